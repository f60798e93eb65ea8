// The service's procedures, from the bundle in the built package, run with the SDK's own
// SubContainer, Daemons, backup and action code against the effects double and the
// start-container stand-in (issue 20, proof 4). Run by test_startos_procedures.py inside a
// private mount and network namespace:
//   S9REG_BUNDLE   javascript/index.js of the package
//   S9REG_IMAGES   the image's s9reg.json and s9reg.env
//   S9REG_ROOTFS   the image's root filesystem, unpacked
//   S9REG_SCRATCH  a directory for the subcontainers' overlays
//   S9REG_HELLO    a package signed by the key S9REG_ADMIN_PEM; S9REG_OTHER_PEM another key
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { makeEffects } from './effects.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const env = name => {
  const v = process.env[name]
  assert.ok(v, `${name} is not set`)
  return v
}
const require = createRequire(import.meta.url)
const YAML = createRequire(join(here, '../../../startos/package.json'))('yaml')
const bundle = require(env('S9REG_BUNDLE'))
const ROOTFS = env('S9REG_ROOTFS')
const SCRATCH = env('S9REG_SCRATCH')
const ADMIN_PEM = env('S9REG_ADMIN_PEM')
const OTHER_PEM = env('S9REG_OTHER_PEM')
const VOLUME = '/media/startos/volumes/main'
const CONFIG = `${VOLUME}/site-config.yaml`

const { effects, calls, live } = makeEffects({ rootfs: ROOTFS, scratch: SCRATCH })
let running = null

before(() => {
  // StartOS mounts the volumes and image metadata under /media/startos in the service's
  // container; the SDK reads those paths as they are.
  mkdirSync('/media', { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', '/media'])
  for (const d of ['volumes/main', 'images', 'backup']) mkdirSync(`/media/startos/${d}`, { recursive: true })
  for (const f of ['s9reg.json', 's9reg.env']) copyFileSync(join(env('S9REG_IMAGES'), f), `/media/startos/images/${f}`)
  process.env.PATH = `${here}:${process.env.PATH}`
})

after(async () => {
  if (running) await running.term()
})

const config = () => YAML.parse(readFileSync(CONFIG, 'utf8'))
const configBytes = () => readFileSync(CONFIG)
const sleep = ms => new Promise(r => setTimeout(r, ms))

async function waitFor(what, fn, timeout = 60_000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const got = await fn().catch(() => undefined)
    if (got) return got
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

async function rpc(method, params = {}) {
  const res = await fetch('http://127.0.0.1:5959/rpc/v0', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(3000),
  })
  const doc = await res.json()
  if (!('result' in doc)) throw new Error(JSON.stringify(doc))
  return doc.result
}

const healthOf = id => calls.health.filter(h => h.id === id)
const lastHealth = id => healthOf(id).at(-1)

/** The pid of `s9reg serve` in one of our subcontainers (never another process). */
function servePid() {
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const root = readlinkSync(`/proc/${pid}/root`)
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (root.startsWith(SCRATCH) && cmd.includes('serve') && cmd.some(c => c.endsWith('s9reg'))) return Number(pid)
    } catch {}
  }
  return null
}

async function startMain() {
  const daemons = await bundle.main({ effects })
  running = await daemons.build()
  await waitFor('health success', async () => lastHealth('primary')?.result === 'success')
}

async function stopMain() {
  await running.term()
  running = null
}

async function getInput(id) {
  return bundle.actions.get(id).getInput({ effects })
}

async function run(id, input) {
  const action = bundle.actions.get(id)
  await action.getInput({ effects }) // as StartOS does before every run: the validator
  return action.run({ effects, input })
}

async function refused(id, input, message) {
  const before = configBytes()
  await assert.rejects(run(id, input), message)
  assert.deepEqual(configBytes(), before, 'the configuration must not change')
}

test('init on install: the configuration, the registry key, the interface and two first-run tasks', async () => {
  await bundle.init({ effects, kind: 'install' })
  const cfg = config()
  assert.equal(cfg.registry.name, 'StartOS Registry')
  assert.equal(cfg.registry.signing_key, 'file:keys/registry.key.pem')
  assert.match(readFileSync(`${VOLUME}/keys/registry.key.pem`, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
  assert.ok(existsSync(`${VOLUME}/packages`))
  assert.deepEqual(
    calls.tasks.map(t => [t.actionId, t.severity]),
    [['config', 'critical'], ['add-admin', 'critical']],
  )
  const names = Object.fromEntries(calls.actions.map(a => [a.id, a.metadata.name]))
  assert.deepEqual(names, {
    config: 'Configure Registry',
    'add-admin': 'Add Administrator',
    'remove-admin': 'Remove Administrator',
  })
  assert.deepEqual(calls.binds.map(b => [b.id, b.internalPort]), [['api', 5959]])
  assert.deepEqual(calls.interfaces.map(i => [i.id, i.type]), [['api', 'api']])
  assert.equal(live(), 0, 'every temporary subcontainer is destroyed')
})

test('main: build then serve; health starting → success, failure while the API does not answer', async () => {
  // A package signed by an administrator's key, put in the volume as an operator would.
  const cfg = config()
  cfg.signers = [{ name: 'Admin', contact: [{ email: 'admin@example.org' }], keys: [ADMIN_PEM], admin: true }]
  writeFileSync(CONFIG, YAML.stringify(cfg))
  copyFileSync(env('S9REG_HELLO'), `${VOLUME}/packages/hello.s9pk`)

  await startMain()
  const primary = healthOf('primary').map(h => h.result)
  console.log('health of primary:', primary.join(' → '))
  // 'waiting' while the build runs (it is required), then 'starting' until /health answers.
  assert.deepEqual([...new Set(primary)], ['waiting', 'starting', 'success'])
  assert.deepEqual(lastHealth('primary'), { id: 'primary', name: 'Registry API', result: 'success', message: 'The web API is ready' })

  // The addresses StartOS gives the interface are in the configuration.
  const synced = config()
  assert.deepEqual(synced.serve.hostnames.sort(), [
    '192.168.1.50',
    'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion',
    'adjective-noun.local',
  ])
  assert.equal(synced.registry.url, synced.registry.file_urls[0])
  assert.ok(synced.registry.file_urls.at(-1).includes('.onion'))

  assert.equal((await rpc('info')).name, 'StartOS Registry')
  assert.ok('1.0.0:0' in (await rpc('package.get', { id: 'hello' })).best)

  const pid = servePid()
  assert.ok(pid, 's9reg serve is running in a subcontainer')
  process.kill(pid, 'SIGSTOP')
  try {
    await waitFor('health failure', async () => lastHealth('primary').result === 'failure', 20_000)
    assert.equal(lastHealth('primary').message, 'The API is unreachable')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  await waitFor('health success again', async () => lastHealth('primary').result === 'success', 20_000)
})

test('config: input spec, prefill, run; a 33-character name is refused', async () => {
  const input = await getInput('config')
  assert.equal(input.spec.name.type, 'text')
  assert.equal(input.spec.name.maxLength, 32)
  assert.equal(input.spec.icon.required, false)
  assert.deepEqual(input.value, { name: 'StartOS Registry', icon: null })

  await run('config', { name: 'Box Registry', icon: null })
  assert.equal(config().registry.name, 'Box Registry')
  await waitFor('the rebuilt site served', async () => (await rpc('info')).name === 'Box Registry', 20_000)

  await refused('config', { name: 'x'.repeat(33), icon: null })
})

test('add-admin: a good key is added; a bad key, a duplicate key, a 33-character name are refused', async () => {
  const input = await getInput('add-admin')
  assert.deepEqual(Object.keys(input.spec), ['name', 'contact', 'key'])
  assert.equal(input.spec.name.maxLength, 32)
  assert.equal(input.spec.key.type, 'textarea')

  const result = await run('add-admin', { name: 'Second Admin', contact: '@second:example.org', key: OTHER_PEM })
  assert.match(result.message, /Second Admin is an administrator/)
  const added = config().signers.find(s => s.name === 'Second Admin')
  assert.ok(added, 'the signer is in site-config.yaml')
  assert.equal(added.admin, true)
  assert.equal(added.keys.map(k => k.trim()).join(), OTHER_PEM.trim())

  await refused('add-admin', { name: 'Bad', contact: 'bad@example.org', key: 'not a key' })
  await refused(
    'add-admin',
    { name: 'Bad', contact: 'bad@example.org', key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' },
    err => (assert.match(err.message, /key/i), true),
  )
  await refused(
    'add-admin',
    { name: 'Third', contact: 'third@example.org', key: OTHER_PEM },
    err => (assert.match(err.message, /already|registered|duplicate/i), true),
  )
  await refused('add-admin', { name: 'y'.repeat(33), contact: 'y@example.org', key: ADMIN_PEM })
  await refused('add-admin', { name: 'Contact', contact: 'not a contact', key: ADMIN_PEM })
})

test('remove-admin: offers the admins, removes the one chosen', async () => {
  const input = await getInput('remove-admin')
  const values = input.spec.admin.values
  const id = Object.keys(values).find(k => values[k] === 'Second Admin')
  assert.ok(id, `Second Admin is offered: ${JSON.stringify(values)}`)
  assert.ok(Object.values(values).includes('Admin'))
  await run('remove-admin', { admin: id })
  const signer = config().signers.find(s => s.name === 'Second Admin')
  assert.ok(!signer || !signer.admin, 'Second Admin is no longer an admin')
  assert.equal(config().signers.find(s => s.name === 'Admin').admin, true)
})

test('backup: the volume restored into a fresh one serves the same registry', async () => {
  await waitFor('the last rebuild served', async () => (await rpc('info')).name === 'Box Registry')
  const served = { info: await rpc('info'), hello: await rpc('package.get', { id: 'hello' }) }
  await stopMain()
  await bundle.createBackup({ effects })
  assert.ok(existsSync('/media/startos/backup/volumes/main/site-config.yaml'))

  rmSync(VOLUME, { recursive: true })
  mkdirSync(VOLUME)
  calls.tasks.length = 0
  await bundle.init({ effects, kind: 'restore' })
  assert.equal(calls.tasks.length, 0, 'a restored registry asks for no first-run task')
  await startMain()
  assert.deepEqual({ info: await rpc('info'), hello: await rpc('package.get', { id: 'hello' }) }, served)
  await stopMain()
  assert.equal(live(), 0, 'every subcontainer is destroyed')
})
