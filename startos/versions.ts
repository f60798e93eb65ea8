import { IMPOSSIBLE, VersionGraph, VersionInfo } from '@start9labs/start-sdk'

/** The package version: s9reg's version, then the wrapper's revision after the colon. */
export const current = VersionInfo.of({
  version: '0.1.0:0',
  releaseNotes: { en_US: 'First release of s9reg as a StartOS service.' },
  migrations: {
    up: async () => {},
    down: IMPOSSIBLE,
  },
})

export const versionGraph = VersionGraph.of({ current, other: [] })
