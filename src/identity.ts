/**
 * @packageDocumentation
 *
 * A node's data directory: an embedded LevelDB datastore holding its private
 * key (so a restarted node keeps its PeerId, which other peers' discovery lists
 * name) and everything else libp2p and this service persist.
 *
 * @example
 *
 * ```ts
 * const { datastore, privateKey } = await openDataDir('./data/peer0')
 * const node = await createLibp2p({ datastore, privateKey, ... })
 * ```
 */

import { mkdir } from 'node:fs/promises'
import { loadOrCreateSelfKey } from '@libp2p/config'
import { LevelDatastore } from 'datastore-level'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export interface DataDir {
  /** The opened LevelDB datastore; close it after the node stops */
  datastore: LevelDatastore
  /** The node's private key, created on first use */
  privateKey: PrivateKey
}

/** Load the node's private key from its datastore, creating and storing an Ed25519 key the first time */
export async function loadOrCreateIdentity (datastore: Datastore): Promise<PrivateKey> {
  return loadOrCreateSelfKey(datastore)
}

/** Open (creating if needed) a data directory and the identity stored in it */
export async function openDataDir (dir: string): Promise<DataDir> {
  await mkdir(dir, { recursive: true })
  const datastore = new LevelDatastore(dir)
  await datastore.open()

  try {
    return { datastore, privateKey: await loadOrCreateIdentity(datastore) }
  } catch (err) {
    await datastore.close()
    throw err
  }
}
