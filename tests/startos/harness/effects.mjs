// A test double of StartOS's `effects` (the API the SDK's procedures call), recording what the
// procedures ask for. Subcontainers are real: createFs mounts an overlay of the image's root
// filesystem (S9REG_ROOTFS), which the `start-container` stand-in then runs commands in.
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'

const PORT = 5959

/** The addresses StartOS would give the interface `api`: LAN IP, `.local`, `.onion`. */
export function hostWith(hostnames) {
  const available = hostnames.map(([hostname, metadata, ssl = true, pub = false]) => ({
    ssl,
    public: pub,
    hostname,
    port: ssl ? 443 : PORT,
    metadata,
  }))
  return {
    bindings: {
      [PORT]: {
        enabled: true,
        options: { preferredExternalPort: PORT, addSsl: null, secure: null },
        net: { assignedPort: PORT, assignedSslPort: 443 },
        addresses: { enabled: [], disabled: [], guaWan: [], available },
        interfaces: {
          api: {
            id: 'api',
            name: 'Registry API',
            description: '',
            masked: false,
            type: 'api',
            addressInfo: {
              username: null,
              hostId: 'api',
              internalPort: PORT,
              scheme: 'http',
              sslScheme: 'https',
              suffix: '',
            },
          },
        },
      },
    },
    bindingRanges: {},
    publicDomains: {},
    privateDomains: {},
    portForwards: [],
  }
}

export const defaultHost = hostWith([
  ['192.168.1.50', { kind: 'ipv4', gateway: 'eth0' }],
  ['adjective-noun.local', { kind: 'mdns', gateways: ['eth0'] }],
  ['abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion', { kind: 'private-domain', gateways: ['tor'] }],
])

export function makeEffects({ rootfs, scratch, host = defaultHost }) {
  const calls = {
    health: [],
    tasks: [],
    actions: [],
    binds: [],
    interfaces: [],
    createdFs: 0,
    destroyedFs: 0,
  }
  let dataVersion = null
  let n = 0
  const mounted = new Map()
  const noop = async () => null
  const effects = {
    eventId: 'test-event',
    isInContext: true,
    child: () => effects,
    onLeaveContext: () => {},
    clearCallbacks: noop,
    action: {
      export: async o => (calls.actions.push(o), null),
      clear: noop,
      getInput: noop,
      run: noop,
      createTask: async o => (calls.tasks.push(o), null),
      clearTasks: noop,
    },
    restart: noop,
    shutdown: noop,
    getStatus: noop,
    setMainStatus: noop,
    setDependencies: noop,
    getDependencies: async () => [],
    checkDependencies: async () => [],
    mount: async () => '',
    getInstalledPackages: async () => [],
    getServiceManifest: noop,
    setBackupProgress: noop,
    setInitProgress: noop,
    setHealth: async h => (calls.health.push(h), null),
    notification: { create: noop },
    subcontainer: {
      async createFs({ imageId }) {
        const guid = `sub-${++n}-${imageId}`
        const dir = `${scratch}/${guid}`
        for (const d of ['upper', 'work', 'rootfs']) mkdirSync(`${dir}/${d}`, { recursive: true })
        execFileSync('mount', [
          '-t', 'overlay', 'overlay',
          '-o', `lowerdir=${rootfs},upperdir=${dir}/upper,workdir=${dir}/work`,
          `${dir}/rootfs`,
        ])
        mounted.set(guid, dir)
        calls.createdFs++
        return [`${dir}/rootfs`, guid]
      },
      async destroyFs({ guid }) {
        const dir = mounted.get(guid)
        mounted.delete(guid)
        execFileSync('umount', ['-R', '-l', `${dir}/rootfs`])
        rmSync(dir, { recursive: true, force: true })
        calls.destroyedFs++
        return null
      },
    },
    bind: async o => (calls.binds.push(o), null),
    bindRange: noop,
    getServicePortForward: async () => ({ assignedPort: PORT, assignedSslPort: 443 }),
    clearBindings: noop,
    getHostInfo: async () => host,
    getContainerIp: async () => '10.0.3.2',
    getOsIp: async () => '10.0.3.1',
    getOutboundGateway: async () => 'eth0',
    exportServiceInterface: async o => (calls.interfaces.push(o), null),
    exportRangeServiceInterface: noop,
    getServiceInterface: noop,
    listServiceInterfaces: async () => ({}),
    clearServiceInterfaces: noop,
    plugin: { url: { register: noop, exportUrl: noop, clearUrls: noop } },
    getSslCertificate: async () => ['', '', ''],
    getSslKey: async () => '',
    setDataVersion: async ({ version }) => ((dataVersion = version), null),
    getDataVersion: async () => dataVersion,
    getSystemSmtp: noop,
  }
  return { effects, calls, live: () => mounted.size }
}
