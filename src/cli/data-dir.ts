import { readdir, stat } from 'node:fs/promises'
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
  await checkDataDir(dir)

  try {
    return await openDataDir(dir)
  } catch (err: any) {
    throw new CliError(await whyNot(dir, err))
  }
}

/**
 * A node's data directory is new, empty, or a node's (LevelDB's CURRENT file
 * is there): a file, or a directory of something else, is refused before
 * LevelDB writes its files into it.
 *
 * @throws {CliError}
 */
async function checkDataDir (dir: string): Promise<void> {
  let info

  try {
    info = await stat(dir)
  } catch (err: any) {
    if (err.code === 'ENOENT') return
    throw new CliError(`cannot use data directory ${dir}: ${err.message}`)
  }

  if (!info.isDirectory()) {
    throw new CliError(`data directory ${dir} is a file, not a directory: give --data a directory (a new one is created)`)
  }

  const entries = await readdir(dir)

  if (entries.length > 0 && !entries.includes('CURRENT')) {
    throw new CliError(`data directory ${dir} is not empty and holds no node's data (no LevelDB CURRENT file): give --data a new or empty directory, or a node's data directory`)
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
