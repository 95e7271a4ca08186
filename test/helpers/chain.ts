import { defaultLogger } from '@libp2p/logger'
import { MemoryDatastore } from 'datastore-core'
import { blockHash, DatastoreLedger, executeBlock, noopsEngine, stateHashOf, timestampNow, Transaction } from '../../src/index.js'
import { createNode } from './nodes.js'
import type { FabricNode } from './nodes.js'
import type { Block, FabricPeerInit, NoopsEngine } from '../../src/index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export const FAST: FabricPeerInit = { discoveryPeriod: 200, touchPeriod: 300, dialBackoffInitial: 300 }

/** An invoke transaction; `payload` as given, or `payload of <id>` */
export function tx (id: string, payload?: Uint8Array | string): Transaction {
  const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(payload ?? `payload of ${id}`)
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new TextEncoder().encode('cc'), payload: bytes as Uint8Array<ArrayBuffer>, metadata: new Uint8Array(0), txid: id, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

/**
 * Append blocks to a ledger as the noops sequencer makes them (one
 * transaction each, the state hash chained), `sizes[i]` payload bytes for
 * block i; `key=value` payloads when `kv` so the world state grows.
 */
export async function buildChain (ledger: DatastoreLedger, sizes: number[], prefix = 'b'): Promise<void> {
  const last = ledger.height === 0 ? undefined : await ledger.getBlock(ledger.height - 1)
  let stateHash: Uint8Array = last?.stateHash ?? new Uint8Array(0)
  let previous: Uint8Array = ledger.getBlockchainInfo().currentBlockHash
  let batch: Array<{ block: Block, delta: ReturnType<typeof executeBlock>, hash: Uint8Array }> = []

  for (const [i, size] of sizes.entries()) {
    const n = ledger.height + batch.length
    const payload = size < 64 ? `k${n % 50}=v${n}` : new Uint8Array(size).fill(n % 251)
    const block: Block = { version: 0, timestamp: timestampNow(), transactions: [tx(`${prefix}-${n}-${i}`, payload)], stateHash: new Uint8Array(0), previousBlockHash: previous as Uint8Array<ArrayBuffer>, consensusMetadata: new Uint8Array(0) }
    const delta = executeBlock(block)
    stateHash = await stateHashOf(stateHash, delta)
    block.stateHash = stateHash as Uint8Array<ArrayBuffer>
    const hash = await blockHash(block)
    batch.push({ block, delta, hash })
    previous = hash

    if (batch.length === 500) {
      await ledger.appendBlocks(batch)
      batch = []
    }
  }

  if (batch.length > 0) await ledger.appendBlocks(batch)
}

export interface Validator { node: FabricNode, engine: NoopsEngine, ledger: DatastoreLedger, datastore: Datastore }

/** A validator running the noops engine on a DatastoreLedger; `sizes` builds its chain before it starts */
export async function validator (init: FabricPeerInit = {}, options: { datastore?: Datastore, sizes?: number[], privateKey?: PrivateKey } = {}): Promise<Validator> {
  const datastore = options.datastore ?? new MemoryDatastore()
  const ledger = await new DatastoreLedger(datastore).open()
  if (options.sizes != null) await buildChain(ledger, options.sizes)
  const engine = noopsEngine({ ledger, logger: defaultLogger() })
  const node = await createNode({ datastore, privateKey: options.privateKey, fabric: { ...FAST, ...init, engine, ledger } })
  return { node, engine, ledger, datastore }
}
