/**
 * What StartOS shows and installs: the service `s9reg`, one image built without Docker by
 * `./tasks startos-package` (docs/startos-service.md), one volume `main` for the whole registry.
 */
import { setupManifest } from '@start9labs/start-sdk'

export const manifest = setupManifest({
  id: 's9reg',
  title: 's9reg',
  license: 'MIT',
  packageRepo: 'https://github.com/s9reg/s9reg/tree/main/startos',
  upstreamRepo: 'https://github.com/s9reg/s9reg',
  marketingUrl: 'https://github.com/s9reg/s9reg',
  donationUrl: null,
  description: {
    short: { en_US: 'Your own StartOS package registry, built from signed packages' },
    long: {
      en_US:
        's9reg builds a StartOS registry from .s9pk packages and serves it: add its address ' +
        'to StartOS and install the packages you host. Packages are verified in full before ' +
        'they are listed; administrators and signers are kept in one configuration file, ' +
        'which can also publish the registry to S3-compatible storage.',
    },
  },
  volumes: ['main'],
  images: {
    s9reg: {
      // The root filesystem is made by mmdebstrap, not Docker (./tasks startos-package); the
      // SDK has no source for that, and start-cli is not used to pack, so this is a label.
      source: { dockerTag: 's9reg/s9reg' },
      arch: ['x86_64', 'aarch64'],
      emulateMissingAs: null,
    },
  },
  dependencies: {},
})
