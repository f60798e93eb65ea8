import { StartSdk } from '@start9labs/start-sdk'
import { manifest } from './manifest'

/** The SDK bound to this service's manifest: volumes, images and actions are typed from it. */
export const sdk = StartSdk.of().withManifest(manifest).build(true)
