import { sdk } from '../sdk'
import { configPath, rebuild, s9reg } from '../utils'

const { InputSpec, Value } = sdk

export const emailPattern = '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$'
export const matrixPattern = '^@[^\\s:]+:[^\\s:]+$'
const pemPattern =
  '^\\s*-----BEGIN PUBLIC KEY-----\\s+[A-Za-z0-9+/=\\s]+-----END PUBLIC KEY-----\\s*$'

export const addAdminSpec = InputSpec.of({
  name: Value.text({
    name: 'Label',
    description: 'Who this administrator is (unique in the registry).',
    required: true,
    default: null,
    minLength: 1,
    maxLength: 32,
  }),
  contact: Value.text({
    name: 'Contact',
    description: 'An email address or a Matrix id (@user:example.org).',
    required: true,
    default: null,
    patterns: [
      { regex: `(${emailPattern})|(${matrixPattern})`, description: 'An email address or a Matrix id' },
    ],
  }),
  key: Value.textarea({
    name: 'Public key',
    description:
      'The Ed25519 public key in PEM form, as `start-cli init-key` writes it (-----BEGIN PUBLIC KEY-----…).',
    required: true,
    default: null,
    minRows: 3,
    patterns: [{ regex: pemPattern, description: 'A PEM public key (-----BEGIN PUBLIC KEY-----…)' }],
  }),
})

/** The contact in s9reg's form: `email:…` or `matrix:@…` (issue 19). */
export function contactArg(contact: string): string {
  const c = contact.trim()
  if (new RegExp(matrixPattern).test(c)) return `matrix:${c}`
  if (new RegExp(emailPattern).test(c)) return `email:${c}`
  throw new Error(`Not an email address or a Matrix id: ${c}`)
}

/** "Add Administrator": a signer whose key may publish any package, checked before any change. */
export const addAdmin = sdk.Action.withInput(
  'add-admin',
  async () => ({
    name: 'Add Administrator',
    description:
      'Add an administrator: a signer who may publish any package and version to this registry.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Administrators',
    visibility: 'enabled',
  }),
  addAdminSpec,
  async () => null,
  async ({ effects, input }) => {
    const name = input.name.trim()
    if (name.length < 1 || name.length > 32) {
      throw new Error('The label must have 1 to 32 characters')
    }
    if (!new RegExp(pemPattern).test(input.key)) {
      throw new Error('The key is not a PEM public key (-----BEGIN PUBLIC KEY-----…)')
    }
    // `signer add` checks the key (Ed25519, not already registered) and the name before it
    // changes the file; only then is the new signer made an admin.
    const added = await s9reg(effects, [
      'registry', 'admin', 'signer', 'add', '-n', name, '-c', contactArg(input.contact),
      '--key', input.key.trim(), '--config', configPath, '--json',
    ])
    const id = signerId(added)
    await s9reg(effects, ['registry', 'admin', 'add', id, '--config', configPath])
    await rebuild(effects)
    return {
      version: '1',
      title: 'Administrator added',
      message: `${name} is an administrator of this registry.`,
      result: null,
    }
  },
)

/** The signer id printed by `s9reg registry admin signer add --json`. */
export function signerId(stdout: string): string {
  const doc = JSON.parse(stdout) as unknown
  const found = (doc as { id?: unknown } | null)?.id
  if (typeof found !== 'string') throw new Error(`s9reg printed no signer id: ${stdout.trim()}`)
  return found
}
