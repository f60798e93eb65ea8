/**
 * The registry's own addresses in its configuration: `registry.url` and `registry.file_urls`
 * (where devices download from) and `serve.hostnames` (the contexts signed requests must name),
 * from the addresses StartOS gives the interface `api`. Reading them with `const` restarts the
 * service when they change, so the configuration follows them.
 */
import { T } from '@start9labs/start-sdk'
import { sdk } from './sdk'
import { apiPort, siteConfig } from './utils'

export type Addresses = { urls: string[]; hostnames: string[] }

/** The interface's non-local addresses, secure ones first, `.onion` last (the slowest path). */
export async function readAddresses(effects: T.Effects): Promise<Addresses> {
  const host = await sdk.host.getOwn(effects, 'api').const()
  const info = host?.bindings[apiPort]?.interfaces['api']?.addressInfo
  if (!info) return { urls: [], hostnames: [] }
  const rank = (h: T.HostnameInfo) => (h.hostname.endsWith('.onion') ? 2 : 0) + (h.ssl ? 0 : 1)
  const found = [...info.nonLocal.hostnames].sort((a, b) => rank(a) - rank(b))
  const urls = [...new Set(found.map(h => info.toUrl(h).replace(/\/?$/, '/')))]
  const hostnames = [...new Set(found.map(h => h.hostname))]
  return { urls, hostnames }
}

/** Writes the addresses into site-config.yaml if they differ from what it holds. */
export async function syncHostnames(effects: T.Effects): Promise<void> {
  const { urls, hostnames } = await readAddresses(effects)
  if (urls.length === 0) return
  const cfg = await siteConfig.read().once()
  if (!cfg) return
  const same =
    cfg.registry.url === urls[0] &&
    JSON.stringify(cfg.registry.file_urls ?? []) === JSON.stringify(urls) &&
    JSON.stringify(cfg.serve?.hostnames ?? []) === JSON.stringify(hostnames)
  if (same) return
  await siteConfig.write(effects, {
    ...cfg,
    registry: { ...cfg.registry, url: urls[0], file_urls: urls },
    serve: { ...(cfg.serve ?? {}), hostnames },
  })
}
