import { sdk } from '../sdk'
import { configPath, rebuild, s9reg, siteConfig } from '../utils'

const { InputSpec, Value } = sdk

export const configSpec = InputSpec.of({
  name: Value.text({
    name: 'Registry name',
    description: 'Shown by StartOS in the list of registries.',
    required: true,
    default: 'StartOS Registry',
    minLength: 1,
    maxLength: 32,
  }),
  icon: Value.textarea({
    name: 'Icon',
    description: 'Optional: the registry icon as a data URL (data:image/png;base64,…) or an https:// URL.',
    required: false,
    default: null,
    patterns: [
      {
        regex: '^(data:image/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\\s]+|https://\\S+)$',
        description: 'A data:image/…;base64,… URL or an https:// URL',
      },
    ],
  }),
})

/** "Configure Registry": the name devices show and the icon. */
export const config = sdk.Action.withInput(
  'config',
  async () => ({
    name: 'Configure Registry',
    description: 'Set the name and icon of the registry.',
    warning: null,
    allowedStatuses: 'any',
    group: null,
    visibility: 'enabled',
  }),
  configSpec,
  async () => {
    const cfg = await siteConfig.read().once()
    const icon = cfg?.registry.icon
    return {
      name: cfg?.registry.name ?? 'StartOS Registry',
      icon: icon && /^(data:|https:)/.test(icon) ? icon : null,
    }
  },
  async ({ effects, input }) => {
    const name = input.name.trim()
    if (name.length < 1 || name.length > 32) {
      throw new Error('The registry name must have 1 to 32 characters')
    }
    const icon = input.icon?.replace(/\s+/g, '') || null
    await s9reg(effects, ['registry', 'info', 'set-name', name, '--config', configPath])
    if (icon !== null) {
      await s9reg(effects, ['registry', 'info', 'set-icon', icon, '--config', configPath])
    }
    await rebuild(effects)
    return null
  },
)
