import { LevelDatastore } from 'datastore-level'
import { openDataDir } from '../identity.js'
import { CliError } from './errors.js'
import type { DataDir } from '../identity.js'

/**
 * Open a node's data directory, or say why not in words a person can act on.
 *
 * @throws {CliError} most often: another node runs on the directory (LevelDB allows one process)
 */
export async function openDataDirOrExplain (dir: string): Promise<DataDir> {
  try {
    return await openDataDir(dir)
  } catch (err: any) {
    throw new CliError(await whyNot(dir, err))
  }
}

/**
 * datastore-level turns LevelDB's error into a string, losing its code: on
 * that failure path, ask LevelDB itself whether the directory is locked.
 */
async function whyNot (dir: string, err: Error): Promise<string> {
  const probe = new LevelDatastore(dir).db

  try {
    await probe.open()
    await probe.close()
  } catch (cause: any) {
    if (cause.code === 'LEVEL_LOCKED' || cause.cause?.code === 'LEVEL_LOCKED') {
      return `data directory ${dir} is in use by another process (a running node?): each node needs its own --data`
    }

    return `cannot open data directory ${dir}: ${cause.cause?.message ?? cause.message}`
  }

  return `cannot open data directory ${dir}: ${err.message}`
}
