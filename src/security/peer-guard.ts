import { InvalidParametersError } from '@libp2p/interface'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { timestampNow } from '../message.js'
import { PeerEndpoint } from '../pb/fabric.js'
import { Membership } from './membership.js'
import { checkMessage, libp2pSecurityHelper, signMessage, signTransaction } from './signing.js'
import { TransactionGuard } from './transaction-guard.js'
import type { ResolvedInit } from '../init.js'
import type { Message, Transaction } from '../pb/fabric.js'
import type { SecurityHelper } from './signing.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export interface PeerGuardComponents {
  privateKey: PrivateKey
}

/**
 * Everything `security.enabled` decides, in one place: who may chat
 * (membership, the validator set), which messages and transactions are
 * genuine (signatures, freshness, replays), and signing what we send. With
 * security off every check passes at once, without a promise.
 */
export class PeerGuard {
  /** Security is on: messages are signed and verified */
  readonly secure: boolean
  /** Signs what we send under security; undefined when security is off */
  readonly signer?: (msg: Message) => Message

  private readonly membership: Membership
  private readonly helper: SecurityHelper
  private readonly maxMessageAge: number
  private readonly transactions: TransactionGuard

  constructor (components: PeerGuardComponents, init: ResolvedInit['security']) {
    this.secure = init.enabled
    this.membership = new Membership(init)
    this.helper = init.helper ?? libp2pSecurityHelper(components.privateKey)
    this.maxMessageAge = init.maxMessageAge
    this.transactions = new TransactionGuard(this.helper, this.membership, this.maxMessageAge)

    if (this.secure) {
      checkHelper(this.helper, components.privateKey)
      this.signer = (msg) => signMessage(this.helper, msg)
    }
  }

  /** Why a received message must be rejected (signature, freshness); undefined when it passes or security is off */
  checkMessage (pkiID: Uint8Array, msg: Message): Promise<string | undefined> | undefined {
    return this.secure ? checkMessage(this.helper, pkiID, msg, this.maxMessageAge) : undefined
  }

  /** Why a peer that said hello may not chat with us (membership, validator set); undefined when it may, at once when security is off */
  checkHello (endpoint: PeerEndpoint, remotePeer: PeerId): Promise<string | undefined> | undefined {
    return this.secure ? this.checkMember(endpoint, remotePeer) : undefined
  }

  /** Why a transaction from `remotePeer` must be refused; undefined when it may go on */
  async checkTransaction (remotePeer: PeerId, tx: Transaction): Promise<string | undefined> {
    if (!this.secure) {
      return undefined
    }

    return await this.membership.isMember(remotePeer)
      ? this.transactions.check(tx)
      : 'not a member of this network'
  }

  /** Under security, a transaction we submit unsigned is stamped and signed by us */
  signTransaction (tx: Transaction): Transaction {
    if (!this.secure || tx.signature.byteLength > 0) {
      return tx
    }

    // stamped, so it passes freshness checks, and signed over the stamp
    return signTransaction(this.helper, { ...tx, timestamp: tx.timestamp ?? timestampNow() })
  }

  private async checkMember (endpoint: PeerEndpoint, remotePeer: PeerId): Promise<string | undefined> {
    if (!(await this.membership.isMember(remotePeer))) {
      return 'not a member of this network'
    }

    if (endpoint.type === PeerEndpoint.Type.VALIDATOR && !this.membership.mayValidate(remotePeer)) {
      return 'not in the validator set'
    }

    return undefined
  }
}

/** A helper must sign synchronously with the node's key: peers verify against its pkiID */
function checkHelper (helper: SecurityHelper, privateKey: PrivateKey): void {
  if (!uint8ArrayEquals(helper.getID(), publicKeyToProtobuf(privateKey.publicKey))) {
    throw new InvalidParametersError('security.helper must sign with the node\'s libp2p key: its getID() is not the node\'s public key')
  }

  let signature: unknown

  try {
    signature = helper.sign(Uint8Array.of(0))
  } catch (err: any) {
    throw new InvalidParametersError(`security.helper cannot sign: ${err.message}`)
  }

  if (!(signature instanceof Uint8Array)) {
    throw new InvalidParametersError('security.helper must sign synchronously (a chat queues messages synchronously)')
  }
}
