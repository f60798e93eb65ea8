import { sdk } from './sdk'
import { apiPort } from './utils'

/** The registry API on 5959, offered on every address StartOS gives it: LAN, `.local`, `.onion`. */
export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
  const host = sdk.MultiHost.of(effects, 'api')
  const origin = await host.bindPort(apiPort, { protocol: 'http' })
  const api = sdk.createInterface(effects, {
    name: 'Registry API',
    id: 'api',
    description:
      'Add this address to StartOS as a registry (Marketplace, Change registry) to install the ' +
      'packages it lists. Its files and its catalogue are served at the same address.',
    type: 'api',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  })
  return [await origin.export([api])]
})
