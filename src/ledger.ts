import { Key } from 'interface-datastore'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { Block, BlockchainInfo } from './pb/fabric.js'
import type { Datastore } from 'interface-datastore'

/**
 * What the peer layer needs from a ledger: the chain summary sent in every
 * DISC_HELLO (Fabric's `ledgerWrapper`).
 */
export interface Ledger {
  getBlockchainInfo(): BlockchainInfo | Promise<BlockchainInfo>
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
  return (await sha256.digest(Block.encode(block))).digest
}

/**
 * A chain of blocks in a datastore (the node's LevelDB in the CLI and
 * examples), so the height and hashes survive restarts. Block n is stored
 * under `<prefix>/blocks/<n>`, the summary under `<prefix>/info`; an append
 * writes both in one batch.
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
   * as its previous hash. Appends run one at a time, in call order.
   *
   * @throws {BlockOutOfOrderError} when it does not extend the chain
   */
  async append (block: Block): Promise<BlockchainInfo> {
    const run = this.appending.then(async () => this.appendNow(block))
    this.appending = run.catch(() => {})
    return run
  }

  /** Block `n`, or undefined beyond the chain */
  async getBlock (n: number): Promise<Block | undefined> {
    const key = this.blockKey(n)

    if (n < 0 || n >= this.info.height || !(await this.datastore.has(key))) {
      return undefined
    }

    return Block.decode(await this.datastore.get(key))
  }

  private async appendNow (block: Block): Promise<BlockchainInfo> {
    if (!uint8ArrayEquals(block.previousBlockHash, this.info.currentBlockHash)) {
      throw new BlockOutOfOrderError(`Block ${this.info.height} does not follow the current block`)
    }

    const next: BlockchainInfo = {
      height: this.info.height + 1,
      currentBlockHash: await blockHash(block) as Uint8Array<ArrayBuffer>,
      previousBlockHash: this.info.currentBlockHash
    }
    const batch = this.datastore.batch()
    batch.put(this.blockKey(this.info.height), Block.encode(block))
    batch.put(new Key(`${this.prefix}/info`), BlockchainInfo.encode(next))
    await batch.commit()
    this.info = next
    return { ...next }
  }

  private blockKey (n: number): Key {
    // zero-padded so keys sort in block order
    return new Key(`${this.prefix}/blocks/${n.toString().padStart(12, '0')}`)
  }
}

function normalise (info: Partial<BlockchainInfo>): BlockchainInfo {
  return {
    height: info.height ?? 0,
    currentBlockHash: info.currentBlockHash ?? new Uint8Array(0),
    previousBlockHash: info.previousBlockHash ?? new Uint8Array(0)
  }
}
