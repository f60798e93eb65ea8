#!/usr/bin/env node
// Reads .s9pk files with the official TypeScript reader bundled in @start9labs/start-sdk
// (s9pk-format.md §14.3, §16) and prints one JSON verdict per file, for s9reg's interop tests
// and benchmark.
//
//   node oracle.mjs [--bare] [--positioned-reads] [--timeout SECONDS] FILE...
//
// Full mode uses S9pk.deserialize (magic, header, signature, every TOC and sighash, then the
// verified manifest.json). --bare uses MerkleArchive.deserialize for archives without a manifest
// (the magic is not checked there). Either way every FILE entry is then read with the reader's
// own verifying read, Entry.verifiedFileContents(), which BLAKE3-checks the bytes.
// --positioned-reads uses the FileBlob stand-in below even for files under 4 GiB (to test it).
//
// Output, one line per FILE argument, in order:
//   {"ok":true,"files":{"a/b":{"size":N,"blake3":"hex"}},"missing":{...},"dirs":["a/"],
//    "manifestId":"id"|null}
//   {"ok":false,"error":"message","errorType":"Error"}
// "blake3" is the entry's hash, which the verifying read has just compared with the bytes read;
// "size" is the number of bytes that read returned. The commitment is always null: the reader's
// commitment check is broken under Node (§14.3). Exit code 0 whatever the verdicts; 2 for usage
// errors and unreadable files, which are problems of the caller, not verdicts on an archive.

import { closeSync, openAsBlob, openSync, readSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// start-core is a bundled dependency of start-sdk; resolve it from start-sdk's directory so a
// hoisted layout works too.
const sdkRequire = createRequire(
  join(here, 'node_modules', '@start9labs', 'start-sdk', 'package.json'),
)
const { S9pk } = sdkRequire('@start9labs/start-core/s9pk/index.js')
const { MerkleArchive, ArrayBufferReader } = sdkRequire(
  '@start9labs/start-core/s9pk/merkleArchive/index.js',
)
const { DirectoryContents } = sdkRequire(
  '@start9labs/start-core/s9pk/merkleArchive/directoryContents.js',
)
const { FileContents } = sdkRequire('@start9labs/start-core/s9pk/merkleArchive/fileContents.js')

const MAGIC_LEN = 3

function usage(message) {
  process.stderr.write(`oracle.mjs: ${message}\nusage: node oracle.mjs [--bare] [--positioned-reads] [--timeout SECONDS] FILE...\n`)
  process.exit(2)
}

// The reader needs only Blob's size, slice() and arrayBuffer(). fs.openAsBlob provides them,
// but Node 20 truncates the size of a file of 4 GiB or more to 32 bits, so for such files this
// stand-in reads the same byte ranges with positioned reads, following Blob.slice's clamping.
class FileBlob {
  constructor(fd, start, end) {
    this.fd = fd
    this.start = start
    this.size = end - start
  }

  slice(start = 0, end = this.size) {
    const clamp = (x) => (x < 0 ? Math.max(this.size + x, 0) : Math.min(x, this.size))
    const from = clamp(start)
    const to = Math.max(clamp(end), from)
    return new FileBlob(this.fd, this.start + from, this.start + to)
  }

  async arrayBuffer() {
    const out = new Uint8Array(this.size)
    for (let done = 0; done < this.size; ) {
      const n = readSync(this.fd, out, done, Math.min(this.size - done, 1 << 30), this.start + done)
      if (n === 0) throw new Error(`unexpected end of file at ${this.start + done}`)
      done += n
    }
    return out.buffer
  }
}

async function openBlob(path, positioned) {
  const size = statSync(path).size
  const blob = positioned ? null : await openAsBlob(path)
  if (blob !== null && blob.size === size) return { blob, close: () => {} }
  const fd = openSync(path, 'r')
  return { blob: new FileBlob(fd, 0, size), close: () => closeSync(fd) }
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex')
}

async function deserialize(blob, bare) {
  if (!bare) {
    const s9pk = await S9pk.deserialize(blob, null)
    return { archive: s9pk.archive, manifestId: s9pk.manifest?.id ?? null }
  }
  // A fresh ArrayBuffer of bytes 3..155, as the vectors README prescribes for bare archives.
  const header = await blob.slice(MAGIC_LEN, MAGIC_LEN + MerkleArchive.headerSize).arrayBuffer()
  const archive = await MerkleArchive.deserialize(blob, 's9pk', new ArrayBufferReader(header), null)
  return { archive, manifestId: null }
}

async function walk(dir, prefix, out) {
  for (const [name, entry] of Object.entries(dir.contents)) {
    const path = prefix + name
    if (entry.contents instanceof DirectoryContents) {
      out.dirs.push(`${path}/`)
      await walk(entry.contents, `${path}/`, out)
    } else if (entry.contents instanceof FileContents) {
      const bytes = await entry.verifiedFileContents()
      out.files[path] = { size: bytes.byteLength, blake3: hex(entry.hash) }
    } else {
      out.missing[path] = { size: Number(entry.size), blake3: hex(entry.hash) }
    }
  }
}

async function check(path, bare, positioned) {
  const { blob, close } = await openBlob(path, positioned)
  try {
    const { archive, manifestId } = await deserialize(blob, bare)
    const out = { ok: true, files: {}, missing: {}, dirs: [], manifestId }
    await walk(archive.contents, '', out)
    return out
  } finally {
    close()
  }
}

function withTimeout(promise, seconds) {
  let timer
  const timeout = new Promise((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, error: `oracle timeout after ${seconds} s`, errorType: 'Timeout' }),
      seconds * 1000,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function main() {
  const args = process.argv.slice(2)
  let bare = false
  let positioned = false
  let timeout = 600
  const files = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--bare') bare = true
    else if (args[i] === '--positioned-reads') positioned = true
    else if (args[i] === '--timeout') timeout = Number(args[++i])
    else if (args[i].startsWith('--')) usage(`unknown option ${args[i]}`)
    else files.push(args[i])
  }
  if (files.length === 0) usage('no FILE given')
  if (!(timeout > 0)) usage('--timeout needs a positive number')
  for (const file of files) {
    try {
      await openAsBlob(file)
    } catch (e) {
      usage(`cannot open ${file}: ${e.message}`)
    }
    const verdict = await withTimeout(
      check(file, bare, positioned).catch((e) => ({
        ok: false,
        error: e instanceof Error ? e.message : String(e),
        errorType: e instanceof Error ? e.constructor.name : typeof e,
      })),
      timeout,
    )
    process.stdout.write(`${JSON.stringify(verdict)}\n`)
  }
}

// Exit explicitly: a runaway read of a crafted archive must not keep the process alive.
main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`oracle.mjs: internal error: ${e?.stack ?? e}\n`)
    process.exit(3)
  },
)
