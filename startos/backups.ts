import { sdk } from './sdk'

/** Every volume: the configuration, the keys, the packages and the built site. */
export const { createBackup, restoreInit } = sdk.setupBackups(async () => sdk.Backups.ofVolumes('main'))
