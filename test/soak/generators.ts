/**
 * Hostile frames from a seeded PRNG, for the fuzz test (test/fuzz.test.ts)
 * and the fuzz at scale (fuzz.ts): valid Messages of every kind a peer
 * sends, and mutations of them. Every choice (which frame, which mutation,
 * where, how long) draws from the `random` the caller passes, in a fixed
 * order, so a seed replays the same kinds of frames; the fuzz test's random
 * byte contents come from crypto.getRandomValues, as they always did.
 */

import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import * as varint from 'uint8-varint'
import { createMessage, HelloMessage, Message, PeerEndpoint, PeersMessage, SyncBlockRange, Transaction } from '../../src/index.js'
import { frame } from '../helpers/fake-peer.js'
import type { Libp2p } from '@libp2p/interface'

const PEER_TYPES = [PeerEndpoint.Type.UNDEFINED, PeerEndpoint.Type.VALIDATOR, PeerEndpoint.Type.NON_VALIDATOR]
const TRANSACTION_TYPES = [Transaction.Type.UNDEFINED, Transaction.Type.CHAINCODE_DEPLOY, Transaction.Type.CHAINCODE_INVOKE, Transaction.Type.CHAINCODE_QUERY, Transaction.Type.CHAINCODE_TERMINATE]

/** mulberry32: a small seeded PRNG, so a failing run can be replayed */
export function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface FrameKit {
  /** The node's correct DISC_HELLO (signed when the kit signs) */
  helloFrom(node: Libp2p): Message
  /** One of each kind of valid Message a peer sends */
  valid(node: Libp2p): Message[]
  /** One hostile chat frame: a valid one mutated, or garbage */
  hostile(node: Libp2p): Uint8Array
}

/**
 * The fuzz test's frames. `signed` turns a valid message into what a secure
 * node accepts (or leaves it as is).
 */
export function fuzzFrames (random: () => number, signed: (node: Libp2p, msg: Message) => Message): FrameKit {
  const int = (n: number): number => Math.floor(random() * n)

  const helloFrom = (node: Libp2p): Message => signed(node, createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
    peerEndpoint: { ID: { name: node.peerId.toString() }, address: '', type: PeerEndpoint.Type.VALIDATOR, pkiID: publicKeyToProtobuf(node.peerId.publicKey!) as Uint8Array<ArrayBuffer> }
  })))
  const valid = (node: Libp2p): Message[] => [
    helloFrom(node),
    createMessage(Message.Type.CONSENSUS, crypto.getRandomValues(new Uint8Array(int(200)))),
    createMessage(Message.Type.DISC_GET_PEERS),
    createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({ peers: [{ ID: { name: node.peerId.toString() }, address: `/ip4/127.0.0.1/tcp/1/p2p/${node.peerId}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }] })),
    createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: 1, start: 0, end: 5 })),
    createMessage(Message.Type.DISC_DISCONNECT, new TextEncoder().encode('bye'))
  ].map(m => signed(node, m))

  const hostile = (node: Libp2p): Uint8Array => {
    const base = frame(valid(node)[int(6)])
    switch (int(7)) {
      case 0: { // flip bits anywhere, the length prefix included
        const out = Uint8Array.from(base)
        for (let i = 0, n = 1 + int(4); i < n; i++) out[int(out.length)] ^= 1 << int(8)
        return out
      }
      case 1: // truncated
        return base.subarray(0, int(base.length))
      case 2: // a huge length prefix
        return Uint8Array.from([...varint.encode(4 * 1024 * 1024 + 1 + int(1 << 20)), ...crypto.getRandomValues(new Uint8Array(8))])
      case 3: // an unknown message type
        return frame(Uint8Array.from([0x08, 30 + int(90), 0x1a, 0x01, 0x00]))
      case 4: // random bytes
        return crypto.getRandomValues(new Uint8Array(1 + int(300)))
      case 5: // a prefix that never ends
        return new Uint8Array(6 + int(20)).fill(0x80 | int(128))
      default: // a valid frame, so sessions get past the first byte
        return base
    }
  }

  return { helloFrom, valid, hostile }
}

/**
 * More of them, for the fuzz at scale: mutations inside the payloads a node
 * decodes after the frame (HelloMessage, PeersMessage, SyncBlockRange) in
 * well-framed Messages, lengths that disagree with the body, huge varints
 * inside fields, random types; and hostile Transactions for
 * /fabric/transaction/1.0.0.
 */
export interface MoreFrames {
  /** One hostile chat frame of the more kinds (or of the fuzz test's) */
  chat(node: Libp2p): Uint8Array
  /** One hostile frame for a transaction stream (a sixth of them valid) */
  tx(): Uint8Array
}

export function moreFrames (random: () => number, kit: FrameKit, signed: (node: Libp2p, msg: Message) => Message): MoreFrames {
  const int = (n: number): number => Math.floor(random() * n)
  // seeded too: a seed replays these frames byte for byte
  const bytes = (n: number): Uint8Array<ArrayBuffer> => Uint8Array.from({ length: n }, () => int(256))

  /** bit flips, truncation, random bytes spliced in, or a field length made huge */
  const mutate = (body: Uint8Array): Uint8Array => {
    switch (int(5)) {
      case 0: {
        const out = Uint8Array.from(body)
        for (let i = 0, n = 1 + int(6); i < n && out.length > 0; i++) out[int(out.length)] ^= 1 << int(8)
        return out
      }
      case 1:
        return body.subarray(0, int(body.length + 1))
      case 2: {
        const at = int(body.length + 1)
        return Uint8Array.from([...body.subarray(0, at), ...bytes(1 + int(16)), ...body.subarray(at)])
      }
      case 3: { // the first length-delimited field claims far more than there is
        const at = body.findIndex((b, i) => (b & 7) === 2 && i + 1 < body.length)
        if (at < 0) return Uint8Array.from([...body, 0x0a, ...varint.encode(2 ** 31 + int(1 << 20))])
        return Uint8Array.from([...body.subarray(0, at + 1), ...varint.encode(2 ** 28 + int(1 << 28)), ...body.subarray(at + 2)])
      }
      default:
        return bytes(int(64))
    }
  }

  /** A valid payload of the kinds a node decodes, with the type that carries it */
  const payload = (node: Libp2p): [Message.Type, Uint8Array] => {
    switch (int(4)) {
      case 0:
        return [Message.Type.DISC_HELLO, kit.helloFrom(node).payload]
      case 1:
        return [Message.Type.DISC_PEERS, PeersMessage.encode({
          peers: Array.from({ length: 1 + int(5) }, () => ({
            ID: { name: int(2) === 0 ? node.peerId.toString() : String.fromCharCode(...bytes(1 + int(60))) },
            address: int(2) === 0 ? `/ip4/127.0.0.${1 + int(254)}/tcp/${1 + int(65535)}/p2p/${node.peerId}` : String.fromCharCode(...bytes(int(80))),
            type: PEER_TYPES[int(PEER_TYPES.length)],
            pkiID: bytes(int(2) === 0 ? 0 : int(80))
          }))
        })]
      case 2:
        return [Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: int(1000), start: int(2) === 0 ? int(10) : 2 ** 52, end: int(2) === 0 ? int(10) : 2 ** 52 })]
      default:
        return [Message.Type.CONSENSUS, bytes(int(300))]
    }
  }

  const chat = (node: Libp2p): Uint8Array => {
    switch (int(6)) {
      case 0: { // a mutated payload in a well-formed Message of its type
        const [type, body] = payload(node)
        return frame(signed(node, createMessage(type, mutate(body) as Uint8Array<ArrayBuffer>)))
      }
      case 1: { // a mutated Message body, correctly framed
        const [type, body] = payload(node)
        return frame(mutate(Message.encode(signed(node, createMessage(type, body as Uint8Array<ArrayBuffer>)))))
      }
      case 2: { // a length prefix that disagrees with the body
        const body = Message.encode(kit.valid(node)[int(6)])
        const length = Math.max(0, body.length + (int(2) === 0 ? -1 : 1) * (1 + int(8)))
        return Uint8Array.from([...varint.encode(length), ...body])
      }
      case 3: { // huge varints inside fields: the type, the timestamp's seconds
        const head = int(2) === 0
          ? [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
          : [0x12, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        return frame(Uint8Array.from(head))
      }
      case 4: { // a random type (any varint) with a random payload
        const body = Uint8Array.from([0x08, ...varint.encode(int(2 ** 32)), 0x1a, ...varint.encode(16), ...bytes(16)])
        return frame(body)
      }
      default:
        return kit.hostile(node)
    }
  }

  /** A valid Transaction, before any mutation */
  const transaction = (): Transaction => {
    const ms = Date.now()
    return {
      type: TRANSACTION_TYPES[int(TRANSACTION_TYPES.length)],
      chaincodeID: new TextEncoder().encode(`fuzz-${int(100)}`),
      payload: bytes(int(200)),
      metadata: bytes(int(2) === 0 ? 0 : int(40)),
      txid: crypto.randomUUID(),
      timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
      nonce: bytes(12),
      cert: new Uint8Array(0),
      signature: new Uint8Array(0)
    }
  }

  const tx = (): Uint8Array => {
    const body = Transaction.encode(transaction())
    switch (int(6)) {
      case 0:
        return frame(mutate(body))
      case 1: // a length prefix that disagrees with the body
        return Uint8Array.from([...varint.encode(Math.max(0, body.length + (int(2) === 0 ? -1 : 1) * (1 + int(8)))), ...body])
      case 2: // a huge length prefix
        return Uint8Array.from([...varint.encode(4 * 1024 * 1024 + 1 + int(1 << 20)), ...bytes(8)])
      case 3: // a prefix that never ends
        return new Uint8Array(6 + int(20)).fill(0x80 | int(128))
      case 4:
        return bytes(1 + int(300))
      default: // valid: the node answers it
        return frame(body)
    }
  }

  return { chat, tx }
}
