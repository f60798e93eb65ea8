#!/usr/bin/env node
// Evaluates exver cases with the JS version library bundled in @start9labs/start-sdk
// (@start9labs/start-core/exver), for s9reg's differential test of s9reg.exver
// (shared/spec/exver-notes.md lists where JS and Rust differ).
//
//   node exver_oracle.mjs < cases.json > results.json
//
// Input: a JSON array of cases; output: a JSON array with one result per case, in order.
//   {"op":"version","text":T}   -> {"ok":true,"str":S,"number":[..],"prerelease":[..]}
//   {"op":"exver","text":T}     -> {"ok":true,"str":S,"flavor":F|null,"upstream":{..},"downstream":{..}}
//   {"op":"compare","a":A,"b":B}
//                               -> {"ok":true,"cmp":"less"|"equal"|"greater"|null,"sort":-1|0|1|null}
//   {"op":"range","text":T,"versions":[V..],"display":D|null}
//                               -> {"ok":true,"str":S,"sat":[true|false|null..],
//                                   "display":{"ok":true,"sat":[..]}|{"ok":false,"error":E}|null}
// "sat" has one entry per version: null when JS cannot parse that version. "display" evaluates
// the same versions against D (s9reg's display of T) parsed by JS. Any parse failure gives
// {"ok":false,"error":message}. Exit code 0 whatever the results; 2 for unreadable input.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// start-core is a bundled dependency of start-sdk; resolve it from start-sdk's directory.
const sdkRequire = createRequire(
  join(here, 'node_modules', '@start9labs', 'start-sdk', 'package.json'),
)
const { Version, ExtendedVersion, VersionRange } = sdkRequire(
  '@start9labs/start-core/exver/index.js',
)

function attempt(fn) {
  try {
    return { ok: true, ...fn() }
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) }
  }
}

function versionJson(v) {
  return { number: v.number, prerelease: v.prerelease }
}

function parseVersions(texts) {
  return texts.map((t) => {
    try {
      return ExtendedVersion.parse(t)
    } catch {
      return null
    }
  })
}

function satisfaction(range, versions) {
  return versions.map((v) => (v === null ? null : range.satisfiedBy(v)))
}

function evaluate(c) {
  switch (c.op) {
    case 'version':
      return attempt(() => {
        const v = Version.parse(c.text)
        return { str: v.toString(), ...versionJson(v) }
      })
    case 'exver':
      return attempt(() => {
        const v = ExtendedVersion.parse(c.text)
        return {
          str: v.toString(),
          flavor: v.flavor,
          upstream: versionJson(v.upstream),
          downstream: versionJson(v.downstream),
        }
      })
    case 'compare':
      return attempt(() => {
        const a = ExtendedVersion.parse(c.a)
        const b = ExtendedVersion.parse(c.b)
        const sort = a.compareForSort(b)
        return { cmp: a.compare(b), sort: sort === undefined ? null : sort }
      })
    case 'range':
      return attempt(() => {
        const range = VersionRange.parse(c.text)
        const versions = parseVersions(c.versions)
        let display = null
        if (c.display !== null && c.display !== undefined) {
          display = attempt(() => ({
            sat: satisfaction(VersionRange.parse(c.display), versions),
          }))
        }
        return { str: range.toString(), sat: satisfaction(range, versions), display }
      })
    default:
      throw new Error(`unknown op ${JSON.stringify(c.op)}`)
  }
}

let cases
try {
  cases = JSON.parse(readFileSync(0, 'utf8'))
} catch (e) {
  process.stderr.write(`exver_oracle.mjs: cannot read cases from stdin: ${e}\n`)
  process.exit(2)
}
process.stdout.write(JSON.stringify(cases.map(evaluate)))
process.stdout.write('\n')
