import { mkdir } from 'node:fs/promises'
import { actions } from './actions'
import { addAdmin } from './actions/addAdmin'
import { config } from './actions/config'
import { restoreInit } from './backups'
import { setInterfaces } from './interfaces'
import { sdk } from './sdk'
import { initialConfig, registryKey, s9reg } from './utils'
import { versionGraph } from './versions'

const setDependencies = sdk.setupDependencies(async () => ({}))

/** A new registry: its configuration, its signing key, and the two first-run tasks. */
const firstRun = sdk.setupOnInit(async (effects, kind) => {
  if (kind !== 'install') return
  const main = sdk.volumes.main
  await main.writeFile('site-config.yaml', initialConfig(), { flag: 'wx' }).catch(e => {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  })
  await mkdir(main.subpath('packages'), { recursive: true })
  await s9reg(effects, ['key', 'init', '--path', `/data/${registryKey}`])
  await sdk.action.createOwnTask(effects, config, 'critical', {
    reason: 'Name the registry (and give it an icon) before adding it to StartOS.',
  })
  await sdk.action.createOwnTask(effects, addAdmin, 'critical', {
    reason: 'Add yourself as an administrator: your key may then publish to this registry.',
  })
})

export const init = sdk.setupInit(restoreInit, versionGraph, setInterfaces, setDependencies, actions, firstRun)
export const uninit = sdk.setupUninit(versionGraph)
