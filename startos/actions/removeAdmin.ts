import { T } from '@start9labs/start-sdk'
import { sdk } from '../sdk'
import { configPath, rebuild, s9reg } from '../utils'

const { InputSpec, Value } = sdk

export type Admin = { id: string; name: string }

/** The admins as `s9reg registry admin list --json` prints them (a list, or an id → signer map). */
export function parseAdmins(stdout: string): Admin[] {
  const doc = JSON.parse(stdout) as unknown
  const entries: [string | undefined, unknown][] = Array.isArray(doc)
    ? doc.map(x => [undefined, x])
    : Object.entries(doc as Record<string, unknown>)
  return entries.flatMap(([key, value]) => {
    const v = (value ?? {}) as { id?: unknown; name?: unknown }
    const id = typeof v.id === 'string' ? v.id : key
    const name = typeof v.name === 'string' ? v.name : id
    return id ? [{ id, name: name ?? id }] : []
  })
}

export async function listAdmins(effects: T.Effects): Promise<Admin[]> {
  return parseAdmins(await s9reg(effects, ['registry', 'admin', 'list', '--config', configPath, '--json']))
}

export const removeAdminSpec = InputSpec.of({
  admin: Value.dynamicSelect(async ({ effects }) => {
    const admins = await listAdmins(effects)
    return {
      name: 'Administrator',
      description: 'The administrator to remove (the signer stays, without admin rights).',
      default: admins[0]?.id ?? '',
      values: Object.fromEntries(admins.map(a => [a.id, a.name])),
      disabled: admins.length === 0 ? 'There are no administrators' : false,
    }
  }),
})

/** "Remove Administrator": one of the current admins loses admin rights. */
export const removeAdmin = sdk.Action.withInput(
  'remove-admin',
  async () => ({
    name: 'Remove Administrator',
    description: 'Take admin rights away from a signer of this registry.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Administrators',
    visibility: 'enabled',
  }),
  removeAdminSpec,
  async () => null,
  async ({ effects, input }) => {
    await s9reg(effects, ['registry', 'admin', 'remove', input.admin, '--config', configPath])
    await rebuild(effects)
    return null
  },
)
