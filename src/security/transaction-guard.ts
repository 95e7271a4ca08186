import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MAX_RECENT_TRANSACTIONS } from '../constants.js'
import { verifyTransaction } from './signing.js'
import type { Membership } from './membership.js'
import type { SecurityHelper } from './signing.js'
import type { Transaction } from '../pb/fabric.js'

/**
 * What a node checks of a transaction it is handed under security: a valid
 * signature by the key in `cert`, a signer who is a member, and with
 * `maxMessageAge` a fresh timestamp and no replay of the same signed
 * transaction within that window (remembered only that long, and at most
 * MAX_RECENT_TRANSACTIONS of them).
 */
export class TransactionGuard {
  private readonly helper: SecurityHelper
  private readonly membership: Membership
  private readonly maxMessageAge: number
  /** signature -> when it may be forgotten; insertion order is expiry order */
  private readonly recent = new Map<string, number>()

  constructor (helper: SecurityHelper, membership: Membership, maxMessageAge: number) {
    this.helper = helper
    this.membership = membership
    this.maxMessageAge = maxMessageAge
  }

  /** Why the transaction must be refused, or undefined */
  async check (tx: Transaction): Promise<string | undefined> {
    if (!(await verifyTransaction(this.helper, tx))) {
      return `transaction ${tx.txid} is unsigned or its signature is invalid`
    }

    let signer

    try {
      signer = peerIdFromPublicKey(publicKeyFromProtobuf(tx.cert))
    } catch {
      return `transaction ${tx.txid} has a cert that is not a public key`
    }

    if (!(await this.membership.isMember(signer))) {
      return `transaction ${tx.txid} is signed by ${signer}, not a member of this network`
    }

    if (this.maxMessageAge > 0) {
      return this.fresh(tx)
    }

    return undefined
  }

  private fresh (tx: Transaction): string | undefined {
    const now = Date.now()

    if (tx.timestamp == null) {
      return `transaction ${tx.txid} has no timestamp`
    }

    const age = now - (tx.timestamp.seconds * 1000 + Math.floor(tx.timestamp.nanos / 1e6))

    if (Math.abs(age) > this.maxMessageAge) {
      return `transaction ${tx.txid} is ${age > 0 ? 'older' : 'further in the future'} than maxMessageAge`
    }

    for (const [key, expires] of this.recent) {
      if (expires > now && this.recent.size < MAX_RECENT_TRANSACTIONS) break
      this.recent.delete(key)
    }

    const key = uint8ArrayToString(tx.signature, 'base64')

    if (this.recent.has(key)) {
      return `transaction ${tx.txid} was already submitted (a replay)`
    }

    this.recent.set(key, now + 2 * this.maxMessageAge)
    return undefined
  }
}
