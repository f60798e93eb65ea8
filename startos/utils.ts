/**
 * What the procedures share: where the registry lives in the volume, how its configuration is
 * read, and how an `s9reg` command runs in the service's image. The procedures never write
 * `site-config.yaml` themselves except for the addresses (hostnames.ts): every other change is
 * an `s9reg registry …` command, which validates the whole file before replacing it.
 */
import { FileHelper, T, z } from '@start9labs/start-sdk'
import { sdk } from './sdk'

type Effects = T.Effects

export const apiPort = 5959
/** Where the volume `main` is mounted in the service's containers. */
export const dataDir = '/data'
export const configPath = `${dataDir}/site-config.yaml`
export const registryKey = 'keys/registry.key.pem'

export const mounts = sdk.Mounts.of().mountVolume({
  volumeId: 'main',
  subpath: null,
  mountpoint: dataDir,
  readonly: false,
})

const signer = z.looseObject({
  name: z.string(),
  keys: z.array(z.string()).optional(),
  admin: z.boolean().optional(),
})

/** The parts of site-config.yaml the procedures read; everything else is kept as it is. */
export const siteConfig = FileHelper.yaml(
  { base: sdk.volumes.main, subpath: 'site-config.yaml' },
  z.looseObject({
    registry: z.looseObject({
      name: z.string(),
      url: z.string(),
      icon: z.string().optional(),
      file_urls: z.array(z.string()).optional(),
    }),
    signers: z.array(signer).optional(),
    serve: z.looseObject({ hostnames: z.array(z.string()).optional() }).optional(),
  }),
)

/** The configuration of a new registry: its name and admins come from the first-run tasks. */
export function initialConfig(): string {
  return [
    '# s9reg on StartOS: the registry this service builds and serves (docs/configuration.md).',
    '# The actions edit this file; registry.url, registry.file_urls and serve.hostnames follow',
    "# the service's addresses and are rewritten when they change.",
    'registry:',
    '  name: StartOS Registry',
    `  url: http://localhost:${apiPort}/`,
    `  signing_key: file:${registryKey}`,
    'packages:',
    '  sources:',
    '    - packages/     # .s9pk files placed in the volume; https:// URLs may be added',
    'output: site',
    'serve:',
    `  listen: 0.0.0.0:${apiPort}`,
    '  refresh_interval: 2',
    '',
  ].join('\n')
}

/** A one-line reason from a failed `s9reg` command (its `ERROR …` line), for the user. */
export function reason(stderr: string, stdout = ''): string {
  const lines = `${stderr}\n${stdout}`.split('\n').map(l => l.trim())
  const error = lines.find(l => l.startsWith('ERROR '))
  if (error) return error.slice('ERROR '.length)
  return lines.filter(l => l).slice(-1)[0] ?? 's9reg failed'
}

/** Runs `s9reg ARGS…` in a temporary container of the service's image; stdout on success. */
export async function s9reg(effects: Effects, args: string[]): Promise<string> {
  return sdk.SubContainer.withTemp(effects, { imageId: 's9reg' }, mounts, 's9reg-cli', async sub => {
    const res = await sub.exec(['s9reg', ...args], { cwd: dataDir }, 120_000)
    if (res.exitCode !== 0 || res.exitSignal) {
      throw new Error(reason(String(res.stderr), String(res.stdout)))
    }
    return String(res.stdout)
  })
}

/** Rebuilds the site after a change; the running `s9reg serve` picks it up at its next refresh. */
export async function rebuild(effects: Effects): Promise<void> {
  await s9reg(effects, ['build', '--config', configPath])
}
