import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Message, Transaction } from '../pb/fabric.js'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Signs what we send and verifies what peers send (Fabric's `crypto.Peer`
 * secHelper). `sign` is synchronous because a chat queues messages
 * synchronously; Ed25519 and secp256k1 libp2p keys sign synchronously.
 */
export interface SecurityHelper {
  /** Our pkiID: the protobuf-encoded public key peers verify with */
  getID(): Uint8Array
  sign(data: Uint8Array): Uint8Array
  /** Whether `signature` is `pkiID`'s signature over `data` */
  verify(pkiID: Uint8Array, signature: Uint8Array, data: Uint8Array): boolean | Promise<boolean>
  /**
   * Fabric's `GetEnrollmentID`: the name the member enrolled under. Optional
   * for helpers written before it; the default helper's is the PeerId string.
   */
  getEnrollmentID?(): string
}

/** The default helper: the node's libp2p private key */
export function libp2pSecurityHelper (privateKey: PrivateKey): SecurityHelper {
  const id = publicKeyToProtobuf(privateKey.publicKey)
  const enrollmentID = peerIdFromPrivateKey(privateKey).toString()

  return {
    getID: () => id,
    getEnrollmentID: () => enrollmentID,
    sign: (data) => {
      const signature = privateKey.sign(data)

      if (signature instanceof Promise) {
        throw new Error(`A ${privateKey.type} key signs asynchronously; give fabricPeer a security.helper that signs synchronously`)
      }

      return signature
    },
    verify: async (pkiID, signature, data) => {
      try {
        return await publicKeyFromProtobuf(pkiID).verify(data, signature)
      } catch {
        return false
      }
    }
  }
}

/**
 * Sign a message over its canonical encoding with an empty signature field
 * (covering type and timestamp too, where v0.6 signed only the payload).
 */
export function signMessage (helper: SecurityHelper, msg: Message): Message {
  return { ...msg, signature: helper.sign(Message.encode({ ...msg, signature: new Uint8Array(0) })) as Uint8Array<ArrayBuffer> }
}

/** Whether a message carries `pkiID`'s valid signature */
export async function verifyMessage (helper: SecurityHelper, pkiID: Uint8Array, msg: Message): Promise<boolean> {
  return msg.signature.byteLength > 0 &&
    await helper.verify(pkiID, msg.signature, Message.encode({ ...msg, signature: new Uint8Array(0) }))
}

/** Sign a transaction: `cert` is the signer's pkiID, `signature` covers the rest */
export function signTransaction (helper: SecurityHelper, tx: Transaction): Transaction {
  const unsigned = { ...tx, cert: helper.getID() as Uint8Array<ArrayBuffer>, signature: new Uint8Array(0) }
  return { ...unsigned, signature: helper.sign(Transaction.encode(unsigned)) as Uint8Array<ArrayBuffer> }
}

/** Whether a transaction carries a valid signature by the key in its `cert` */
export async function verifyTransaction (helper: SecurityHelper, tx: Transaction): Promise<boolean> {
  return tx.cert.byteLength > 0 && tx.signature.byteLength > 0 &&
    await helper.verify(tx.cert, tx.signature, Transaction.encode({ ...tx, signature: new Uint8Array(0) }))
}

/**
 * Why a received message must be rejected under security, or undefined if it
 * passes: it must be signed by `pkiID` and, with `maxMessageAge`, be fresh.
 */
export async function checkMessage (helper: SecurityHelper, pkiID: Uint8Array, msg: Message, maxMessageAge: number): Promise<string | undefined> {
  if (msg.signature.byteLength === 0) {
    return `unsigned ${msg.type}`
  }

  if (!(await verifyMessage(helper, pkiID, msg))) {
    return `${msg.type} with an invalid signature`
  }

  if (maxMessageAge > 0) {
    if (msg.timestamp == null) {
      return `${msg.type} without a timestamp`
    }

    const age = Date.now() - (msg.timestamp.seconds * 1000 + Math.floor(msg.timestamp.nanos / 1e6))

    if (Math.abs(age) > maxMessageAge) {
      return `${msg.type} ${age > 0 ? 'older' : 'further in the future'} than maxMessageAge (${Math.round(Math.abs(age))}ms)`
    }
  }

  return undefined
}
