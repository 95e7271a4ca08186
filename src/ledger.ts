import { Key } from 'interface-datastore'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { Block, BlockchainInfo, StateDelta } from './pb/fabric.js'
import type { StateEntry } from './pb/fabric.js'
import type { Datastore } from 'interface-datastore'

/** The world state at one block: what a SYNC_STATE_SNAPSHOT carries */
export interface StateSnapshot {
  /** The number of the last block the state includes (0 for an empty chain) */
  blockNumber: number
  /** Every key with its value */
  entries: Iterable<StateEntry> | AsyncIterable<StateEntry>
}

/**
 * What the peer layer needs from a ledger: the chain summary sent in every
 * DISC_HELLO (Fabric's `ledgerWrapper`), and, to serve a peer's
 * `RemoteLedger` requests (Fabric's `BlockChainAccessor` and
 * `StateAccessor`), blocks, state deltas and state snapshots. The serving
 * methods are optional: a ledger without one answers that request with an
 * empty result, so the asking peer goes elsewhere at once instead of waiting.
 */
export interface Ledger {
  getBlockchainInfo(): BlockchainInfo | Promise<BlockchainInfo>
  /** Block `n`, or undefined if the ledger does not have it */
  getBlock?(n: number): Block | undefined | Promise<Block | undefined>
  /** The state delta block `n` made, or undefined if the ledger does not have it */
  getStateDelta?(n: number): StateDelta | undefined | Promise<StateDelta | undefined>
  /** The whole world state, consistent at one block */
  getStateSnapshot?(): StateSnapshot | Promise<StateSnapshot>
}

/** A ledger held in memory: an empty chain unless told otherwise. */
export class MemoryLedger implements Ledger {
  private info: BlockchainInfo

  constructor (info: Partial<BlockchainInfo> = {}) {
    this.info = normalise(info)
  }

  getBlockchainInfo (): BlockchainInfo {
    return { ...this.info }
  }

  setBlockchainInfo (info: Partial<BlockchainInfo>): void {
    this.info = normalise(info)
  }
}

/** The block does not extend the chain: wrong number or wrong previous hash. */
export class BlockOutOfOrderError extends Error {
  static override name = 'BlockOutOfOrderError'
  override name = 'BlockOutOfOrderError'
}

/** The hash of a block: SHA-256 of its encoding (Fabric v0.6 hashed the block's protobuf too). */
export async function blockHash (block: Block): Promise<Uint8Array> {
  return sha256Of(Block.encode(block))
}

/** SHA-256 of `bytes`: synchronous where the platform hashes synchronously (Node), so a chain of many blocks is not a chain of promises */
export function sha256Of (bytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  return sha256.encode(bytes)
}

/**
 * A chain of blocks and the world state its transactions wrote, in a
 * datastore (the node's LevelDB in the CLI and examples), so both survive
 * restarts. Under `<prefix>`: block n at `blocks/<n>`, the delta it made at
 * `deltas/<n>`, each state key at `state/<key>`, each transaction id at
 * `txids/<txid>` (the block that holds it), the summary at `info`. An append
 * writes all of them in one batch.
 */
export class DatastoreLedger implements Ledger {
  private readonly datastore: Datastore
  private readonly prefix: string
  private info: BlockchainInfo = normalise({})
  private appending: Promise<unknown> = Promise.resolve()

  constructor (datastore: Datastore, prefix = '/fabric/ledger') {
    this.datastore = datastore
    this.prefix = prefix
  }

  /** Read the stored summary; call once before use */
  async open (): Promise<this> {
    const key = new Key(`${this.prefix}/info`)

    if (await this.datastore.has(key)) {
      this.info = BlockchainInfo.decode(await this.datastore.get(key))
    }

    return this
  }

  getBlockchainInfo (): BlockchainInfo {
    return { ...this.info }
  }

  get height (): number {
    return this.info.height
  }

  /**
   * Append a block as number `height`: it must name the current block's hash
   * as its previous hash. `delta` is what the block's transactions wrote to
   * the world state; it is applied and kept for `getStateDelta`. Appends run
   * one at a time, in call order.
   *
   * @throws {BlockOutOfOrderError} when it does not extend the chain
   */
  async append (block: Block, delta?: StateDelta): Promise<BlockchainInfo> {
    return this.appendBlocks([{ block, delta }])
  }

  /**
   * Append blocks in order, in one batch: all of them or, if one does not
   * extend the chain, none. A caller that has a block's encoding (and hash)
   * already may pass them: they must be `Block.encode(block)` and its SHA-256.
   *
   * @throws {BlockOutOfOrderError} when one does not extend the chain
   */
  async appendBlocks (blocks: Array<{ block: Block, delta?: StateDelta, hash?: Uint8Array, encoded?: Uint8Array }>): Promise<BlockchainInfo> {
    return this.serially(async () => this.appendNow(blocks))
  }

  /** Block `n`, or undefined beyond the chain */
  async getBlock (n: number): Promise<Block | undefined> {
    const bytes = await this.getEncodedBlock(n)
    return bytes == null ? undefined : Block.decode(bytes)
  }

  /** Block `n` as it is stored (its protobuf encoding), or undefined beyond the chain */
  async getEncodedBlock (n: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.info.height) {
      return undefined
    }

    try {
      return await this.datastore.get(this.blockKey(n))
    } catch {
      return undefined
    }
  }

  /** The state delta block `n` made (empty for a block appended without one), or undefined beyond the chain */
  async getStateDelta (n: number): Promise<StateDelta | undefined> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.info.height) {
      return undefined
    }

    try {
      return StateDelta.decode(await this.datastore.get(this.deltaKey(n)))
    } catch {
      return { entries: [] }
    }
  }

  /** The value of a world-state key, or undefined */
  async getState (key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.datastore.get(this.stateKey(key))
    } catch {
      return undefined
    }
  }

  /**
   * The whole world state at the current block, as an iterator over the
   * datastore: it is opened between appends, so on LevelDB (whose iterators
   * read a snapshot) it is consistent at one block, and it is read outside the
   * append lock, a chunk at a time, so a slow reader neither holds up appends
   * nor makes the node hold the whole state. Entries come in storage order.
   */
  async getStateSnapshot (): Promise<{ blockNumber: number, entries: AsyncIterable<StateEntry> }> {
    return this.serially(async () => {
      const source = this.datastore.query({ prefix: `${this.prefix}/state/` })
      const query = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()
      // the iterator opens here, between appends
      const first = await query.next()
      const blockNumber = Math.max(0, this.info.height - 1)

      async function * entries (): AsyncGenerator<StateEntry> {
        try {
          for (let next = first; next.done !== true; next = await query.next()) {
            yield { key: decodeStateKey(next.value.key.baseNamespace()), value: next.value.value as Uint8Array<ArrayBuffer>, deleted: false }
          }
        } finally {
          // a reader that stops early (an answer dropped) must close the datastore's iterator
          await query.return?.(undefined)
        }
      }

      return { blockNumber, entries: entries() }
    })
  }

  /** The whole world state, read into memory, sorted by key (for tests and tools; peers are served `getStateSnapshot`) */
  async getStateEntries (): Promise<StateEntry[]> {
    const { entries } = await this.getStateSnapshot()
    const all: StateEntry[] = []
    for await (const entry of entries) all.push(entry)
    return all.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }

  /** Replace the whole world state with a snapshot's entries (state transfer), in one batch */
  async replaceState (entries: Iterable<StateEntry> | AsyncIterable<StateEntry>): Promise<void> {
    await this.serially(async () => {
      const writes = new Map<string, Uint8Array | undefined>()

      for await (const key of this.datastore.queryKeys({ prefix: `${this.prefix}/state/` })) {
        writes.set(key.toString(), undefined)
      }

      for await (const entry of entries) {
        writes.set(this.stateKey(entry.key).toString(), entry.deleted ? undefined : entry.value)
      }

      await this.commit(writes)
    })
  }

  /** Apply a state delta to the world state without appending a block (state transfer by deltas) */
  async applyStateDelta (delta: StateDelta): Promise<void> {
    await this.serially(async () => {
      const writes = new Map<string, Uint8Array | undefined>()
      this.writeDelta(writes, delta)
      await this.commit(writes)
    })
  }

  /** The number of the block that holds transaction `txid`, or undefined */
  async findTransaction (txid: string): Promise<number | undefined> {
    try {
      return Number(uint8ArrayToString(await this.datastore.get(this.txidKey(txid))))
    } catch {
      return undefined
    }
  }

  private async appendNow (blocks: Array<{ block: Block, delta?: StateDelta, hash?: Uint8Array, encoded?: Uint8Array }>): Promise<BlockchainInfo> {
    let info = this.info
    const writes = new Map<string, Uint8Array | undefined>()

    for (const { block, delta, hash, encoded } of blocks) {
      if (!uint8ArrayEquals(block.previousBlockHash, info.currentBlockHash)) {
        throw new BlockOutOfOrderError(`Block ${info.height} does not follow the current block`)
      }

      const number = info.height
      const bytes = encoded ?? Block.encode(block)
      writes.set(this.blockKey(number).toString(), bytes)

      if (delta != null) {
        writes.set(this.deltaKey(number).toString(), StateDelta.encode(delta))
        this.writeDelta(writes, delta)
      }

      for (const tx of block.transactions) {
        writes.set(this.txidKey(tx.txid).toString(), uint8ArrayFromString(String(number)))
      }

      info = {
        height: number + 1,
        currentBlockHash: (hash ?? await sha256Of(bytes)) as Uint8Array<ArrayBuffer>,
        previousBlockHash: info.currentBlockHash
      }
    }

    writes.set(`${this.prefix}/info`, BlockchainInfo.encode(info))
    await this.commit(writes)
    this.info = info
    return { ...info }
  }

  /** Each key's last write (undefined: delete), in one batch: a batch need not keep its writes in order (a MemoryDatastore's puts all go before its deletes) */
  private async commit (writes: Map<string, Uint8Array | undefined>): Promise<void> {
    const batch = this.datastore.batch()

    for (const [key, value] of writes) {
      if (value == null) {
        batch.delete(new Key(key))
      } else {
        batch.put(new Key(key), value)
      }
    }

    await batch.commit()
  }

  private writeDelta (writes: Map<string, Uint8Array | undefined>, delta: StateDelta): void {
    for (const entry of delta.entries) {
      writes.set(this.stateKey(entry.key).toString(), entry.deleted ? undefined : entry.value)
    }
  }

  private async serially<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.appending.then(fn)
    this.appending = run.catch(() => {})
    return run
  }

  private blockKey (n: number): Key {
    // zero-padded so keys sort in block order
    return new Key(`${this.prefix}/blocks/${n.toString().padStart(12, '0')}`)
  }

  private deltaKey (n: number): Key {
    return new Key(`${this.prefix}/deltas/${n.toString().padStart(12, '0')}`)
  }

  private stateKey (key: string): Key {
    // base64url: a state key may hold '/' and anything else a datastore key may not
    return new Key(`${this.prefix}/state/${encodeStateKey(key)}`)
  }

  private txidKey (txid: string): Key {
    return new Key(`${this.prefix}/txids/${encodeStateKey(txid)}`)
  }
}

function encodeStateKey (key: string): string {
  return `k${uint8ArrayToString(uint8ArrayFromString(key), 'base64url')}`
}

function decodeStateKey (name: string): string {
  return uint8ArrayToString(uint8ArrayFromString(name.slice(1), 'base64url'))
}

function normalise (info: Partial<BlockchainInfo>): BlockchainInfo {
  return {
    height: info.height ?? 0,
    currentBlockHash: info.currentBlockHash ?? new Uint8Array(0),
    previousBlockHash: info.previousBlockHash ?? new Uint8Array(0)
  }
}
