import type { BlockchainInfo } from './pb/fabric.js'

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

function normalise (info: Partial<BlockchainInfo>): BlockchainInfo {
  return {
    height: info.height ?? 0,
    currentBlockHash: info.currentBlockHash ?? new Uint8Array(0),
    previousBlockHash: info.previousBlockHash ?? new Uint8Array(0)
  }
}
