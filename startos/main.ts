import { syncHostnames } from './hostnames'
import { sdk } from './sdk'
import { apiPort, configPath, mounts } from './utils'

export const readyMessage = 'The web API is ready'
export const downMessage = 'The API is unreachable'

/** `/health` of the running server: up only when it answers with a loaded site. */
export async function checkApi(url = `http://127.0.0.1:${apiPort}/health`) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
    const body = (await res.json()) as { status?: string; lastError?: string | null }
    if (res.ok && body.status === 'ok') return { result: 'success' as const, message: readyMessage }
    if (res.ok && body.status === 'stale') {
      return {
        result: 'loading' as const,
        message: `The web API serves the last good site; the new one failed: ${body.lastError}`,
      }
    }
  } catch {
    // unreachable, timed out or not JSON: all mean the API cannot be used
  }
  return { result: 'failure' as const, message: downMessage }
}

/** Build the site once (the configuration may have changed while stopped), then serve it. */
export const main = sdk.setupMain(async ({ effects }) => {
  await syncHostnames(effects)
  const command = (...args: string[]): [string, ...string[]] => ['s9reg', ...args, '--config', configPath]
  return sdk.Daemons.of(effects)
    .addOneshot('build', {
      subcontainer: sdk.SubContainer.of(effects, { imageId: 's9reg' }, mounts, 's9reg-build'),
      exec: { command: command('build') },
      requires: [],
    })
    .addDaemon('primary', {
      subcontainer: sdk.SubContainer.of(effects, { imageId: 's9reg' }, mounts, 's9reg-serve'),
      exec: { command: command('serve', '--listen', `0.0.0.0:${apiPort}`) },
      ready: {
        display: 'Registry API',
        fn: () => checkApi(),
        // One local GET: cheap enough to notice a hung server within seconds.
        trigger: sdk.trigger.statusTrigger(5_000, { starting: 1_000, failure: 1_000 }),
      },
      requires: ['build'],
    })
})
