/**
 * A hostile peer for the noops engine, written by hand: its own plain libp2p
 * node (no fabric service), raw streams, and every frame built here - a varint
 * length prefix and a protobuf `Message` - never our ChatStream or sender. It
 * says hello in whatever role and with whatever chain it likes, answers (or
 * not) the node's SYNC_GET_BLOCKS, and can serve `/fabric/transaction/1.0.0`
 * itself, answering what it likes.
 */

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { sha256 } from 'multiformats/hashes/sha2'
import * as varint from 'uint8-varint'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { Block, CHAT_PROTOCOL, createMessage, HelloMessage, libp2pSecurityHelper, Message, PeerEndpoint, Response, signMessage, StateDelta, SyncBlockRange, SyncBlocks, timestampNow, Transaction, TRANSACTION_PROTOCOL } from '../../src/index.js'
import { createRawNode } from './nodes.js'
import type { BlockchainInfo } from '../../src/index.js'
import type { Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** `body` with its varint length prefix: one frame of the Chat and transaction protocols */
export function lengthPrefixed (body: Uint8Array): Uint8Array {
  return uint8ArrayConcat([varint.encode(body.byteLength), body])
}

/** Splits a byte stream into the frames a varint length prefix delimits */
export class RawFrameReader {
  private buffer = new Uint8Array(0)

  push (chunk: Uint8Array): Uint8Array[] {
    this.buffer = this.buffer.byteLength === 0 ? chunk.slice() : uint8ArrayConcat([this.buffer, chunk])
    const frames: Uint8Array[] = []

    while (true) {
      // the prefix: 7 bits a byte, low bits first, the high bit set on all but the last
      let length = 0
      let at = 0

      for (let shift = 0; ; shift += 7) {
        if (at >= this.buffer.byteLength) return frames
        if (at >= 5) throw new Error('a length prefix of more than 5 bytes')
        const byte = this.buffer[at++]
        length += (byte & 0x7f) * 2 ** shift
        if ((byte & 0x80) === 0) break
      }

      if (this.buffer.byteLength < at + length) return frames
      frames.push(this.buffer.slice(at, at + length))
      this.buffer = this.buffer.subarray(at + length)
    }
  }
}

/** The bytes of a chunk a raw stream delivered (a Uint8Array or a Uint8ArrayList) */
function bytesOf (data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/** A key whose PeerId's multihash bytes sort before (`first`) or after (`last`) every one of `others` */
export async function keySorting (position: 'first' | 'last', others: PeerId[]): Promise<PrivateKey> {
  for (let tries = 0; tries < 10_000; tries++) {
    const key = await generateKeyPair('Ed25519')
    const bytes = peerIdFromPrivateKey(key).toMultihash().bytes
    const order = others.map(other => uint8ArrayCompare(bytes, other.toMultihash().bytes))

    if (position === 'first' ? order.every(c => c < 0) : order.every(c => c > 0)) {
      return key
    }
  }

  throw new Error(`no key sorting ${position}`)
}

/** How the peer answers a SYNC_GET_BLOCKS: nothing (`silent`), or the messages the function returns */
export type SyncAnswer = 'silent' | ((range: SyncBlockRange, chat: RawChat) => Message[] | Promise<Message[]>)

export interface RawChatOptions {
  /** The role the hello claims (default VALIDATOR) */
  type?: PeerEndpoint.Type
  /** The chain the hello claims (default none) */
  blockchainInfo?: BlockchainInfo
  /** What it does with the node's SYNC_GET_BLOCKS (default: silent) */
  onGetBlocks?: SyncAnswer
}

/** One raw chat stream with a fabric node, after a hello exchange done by hand */
export class RawChat {
  readonly stream: Stream
  readonly peer: RawPeer
  /** Every message the node sent us on this chat, its hello first */
  readonly received: Message[] = []
  /** The node's hello */
  theirHello!: HelloMessage
  /** SYNC_GET_BLOCKS the node sent us */
  readonly blockRequests: SyncBlockRange[] = []
  /** Bytes of frames written so far */
  written = 0

  constructor (peer: RawPeer, stream: Stream) {
    this.peer = peer
    this.stream = stream
  }

  /** Queue a message (signed when the peer has a key and signs) as one frame */
  send (msg: Message): boolean {
    return this.sendBytes(lengthPrefixed(Message.encode(this.peer.signs ? this.peer.sign(msg) : msg)))
  }

  /** Queue bytes as they are */
  sendBytes (bytes: Uint8Array): boolean {
    this.written += bytes.byteLength
    return this.stream.send(bytes)
  }

  /** Ask the node for block `n` with a raw SYNC_GET_BLOCKS (the peer layer serves it from the ledger) */
  async fetchBlock (n: number, timeout = 5_000): Promise<Block> {
    const correlationId = 1_000_000 + n
    const seen = this.received.length
    this.send(createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId, start: n, end: n })))
    const deadline = Date.now() + timeout

    while (Date.now() < deadline) {
      for (const msg of this.received.slice(seen)) {
        if (msg.type !== Message.Type.SYNC_BLOCKS) continue
        const answer = SyncBlocks.decode(msg.payload)
        if (answer.range?.correlationId === correlationId && answer.blocks.length > 0) return answer.blocks[0]
      }
      await new Promise(resolve => setTimeout(resolve, 10))
    }

    throw new Error(`the node did not serve block ${n}`)
  }

  /** Send a message, then wait until the stream takes more (or closes) */
  async write (msg: Message): Promise<void> {
    if (!this.send(msg) && this.stream.writeStatus === 'writable') {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.removeEventListener('drain', done)
          this.stream.removeEventListener('close', done)
          resolve()
        }
        this.stream.addEventListener('drain', done)
        this.stream.addEventListener('close', done)
      })
    }
  }
}

/** A plain libp2p node that plays a fabric peer by hand */
export class RawPeer {
  readonly node: Libp2p
  readonly privateKey?: PrivateKey
  /** Sign every chat message with the node's key (as a peer under security does) */
  signs = false
  /** Transactions that reached our own transaction handler */
  readonly transactions: Transaction[] = []
  private readonly held: Stream[] = []

  private constructor (node: Libp2p, privateKey?: PrivateKey) {
    this.node = node
    this.privateKey = privateKey
  }

  static async create (privateKey?: PrivateKey): Promise<RawPeer> {
    return new RawPeer(await createRawNode(privateKey), privateKey)
  }

  get peerId (): PeerId {
    return this.node.peerId
  }

  sign (msg: Message): Message {
    if (this.privateKey == null) throw new Error('a raw peer without a key cannot sign')
    return signMessage(libp2pSecurityHelper(this.privateKey), msg)
  }

  /** Open a chat stream with `target` and exchange hellos, with our own DISC_HELLO */
  async chat (target: Multiaddr[], options: RawChatOptions = {}): Promise<RawChat> {
    const stream = await this.node.dialProtocol(target, CHAT_PROTOCOL)
    const chat = new RawChat(this, stream)
    const reader = new RawFrameReader()
    const answer = options.onGetBlocks ?? 'silent'
    const { promise: answered, resolve, reject } = Promise.withResolvers<void>()

    stream.addEventListener('message', (evt) => {
      for (const f of reader.push(bytesOf(evt.data))) {
        const msg = Message.decode(f)
        chat.received.push(msg)

        if (msg.type === Message.Type.DISC_HELLO) {
          chat.theirHello = HelloMessage.decode(msg.payload)
          resolve()
        } else if (msg.type === Message.Type.SYNC_GET_BLOCKS) {
          const range = SyncBlockRange.decode(msg.payload)
          chat.blockRequests.push(range)

          if (answer !== 'silent') {
            void Promise.resolve(answer(range, chat)).then(msgs => { msgs.forEach(m => chat.send(m)) }, () => {})
          }
        }
      }
    })
    stream.addEventListener('close', () => { reject(new Error('the chat closed before the node\'s hello')) })

    const hello = (blockchainInfo?: BlockchainInfo): void => {
      chat.send(createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
        peerEndpoint: {
          ID: { name: this.node.peerId.toString() },
          address: this.node.getMultiaddrs()[0].toString(),
          type: options.type ?? PeerEndpoint.Type.VALIDATOR,
          pkiID: publicKeyToProtobuf(this.node.peerId.publicKey!) as Uint8Array<ArrayBuffer>
        },
        blockchainInfo
      })))
    }

    hello(options.blockchainInfo)

    await answered
    return chat
  }

  /**
   * Serve `/fabric/transaction/1.0.0` ourselves: read one varint-prefixed
   * Transaction; `hijack` answers SUCCESS "hijacked <txid>" at once, `silent`
   * never answers (the stream is held open until stop)
   */
  async serveTransactions (mode: 'hijack' | 'silent'): Promise<void> {
    await this.node.handle(TRANSACTION_PROTOCOL, (stream) => {
      const reader = new RawFrameReader()
      this.held.push(stream)
      stream.addEventListener('message', (evt) => {
        for (const f of reader.push(bytesOf(evt.data))) {
          const tx = Transaction.decode(f)
          this.transactions.push(tx)

          if (mode === 'hijack') {
            stream.send(lengthPrefixed(Response.encode({ status: Response.StatusCode.SUCCESS, msg: new TextEncoder().encode(`hijacked ${tx.txid}`) })))
            void stream.close().catch(() => {})
          }
        }
      })
    })
  }

  async stop (): Promise<void> {
    this.held.splice(0).forEach(s => { s.abort(new Error('raw peer stopping')) })
    await this.node.stop()
  }
}

/** A block of one transaction, chained to `previousBlockHash` */
export function blockOf (tx: Transaction, previousBlockHash: Uint8Array, stateHash: Uint8Array = new Uint8Array(0)): Block {
  return {
    version: 0,
    timestamp: timestampNow(),
    transactions: [tx],
    stateHash: stateHash as Uint8Array<ArrayBuffer>,
    previousBlockHash: previousBlockHash as Uint8Array<ArrayBuffer>,
    consensusMetadata: new Uint8Array(0)
  }
}

/** The hash that chains the next block to `block`: SHA-256 of its encoding (as the ledger's `blockHash`) */
export async function hashOf (block: Block): Promise<Uint8Array> {
  return (await sha256.digest(Block.encode(block))).digest
}

/**
 * The state hash the reference engine's chaincode gives an invoke of `key=value`
 * on chaincode `cc` after a block whose state hash is `previous`, worked out
 * here by hand (SHA-256 of the previous state hash and the delta's encoding),
 * so forged blocks can carry exactly what executing them gives
 */
export async function forgedStateHash (previous: Uint8Array, chaincode: string, key: string, value: string): Promise<Uint8Array> {
  const k = `${chaincode}/${key}`
  const delta = StateDelta.encode({ entries: [{ key: k, value: new TextEncoder().encode(value) as Uint8Array<ArrayBuffer>, deleted: false }] })
  return (await sha256.digest(uint8ArrayConcat([previous, delta]))).digest
}

/** A CONSENSUS message carrying `blocks` numbered from `start`, as the reference engine sends new blocks */
export function consensus (start: number, blocks: Block[]): Message {
  return createMessage(Message.Type.CONSENSUS, SyncBlocks.encode({ range: { correlationId: 0, start, end: start + blocks.length - 1 }, blocks }))
}

export interface FloodPlan {
  /** CONSENSUS frames to send, each one block of one transaction */
  frames: number
  /** The transaction payload of each, in bytes (under maxMessageSize with room for the envelope) */
  payloadBytes: number
  /** The number of the first block; each next frame names one 10 further */
  start: number
}

export interface Flood {
  readonly peerId: PeerId
  /** Frames and bytes written so far */
  readonly sent: { frames: number, bytes: number }
  /** Start sending; resolves when every frame has been written (or the node closed the chat) */
  go(): Promise<{ frames: number, bytes: number }>
  stop(): Promise<void>
}

/**
 * A raw peer in a process of its own (so this process's memory is the
 * target's) that says hello as a VALIDATOR with `key`, then, on `go()`,
 * writes `plan.frames` CONSENSUS frames far ahead of the target's chain as
 * fast as the target takes them.
 */
export async function startFlood (target: Multiaddr[], key: PrivateKey, plan: FloodPlan): Promise<Flood> {
  const child = fork(fileURLToPath(import.meta.url), ['flood', JSON.stringify({ target: target.map(String), key: uint8ArrayToString(privateKeyToProtobuf(key), 'base64'), plan })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  const sent = { frames: 0, bytes: 0 }
  const finished = Promise.withResolvers<{ frames: number, bytes: number }>()
  child.on('message', (msg: any) => {
    if (msg.sent != null) Object.assign(sent, msg.sent)
    if (msg.done != null) finished.resolve(msg.done)
  })
  void exited.then(code => { finished.reject(new Error(`the flood process exited with ${code}`)) })
  const ready = Promise.withResolvers<void>()
  child.on('message', (msg: any) => { if (msg.ready === true) ready.resolve() })
  void exited.then(code => { ready.reject(new Error(`the flood process exited with ${code} before its hello`)) })
  await ready.promise

  return {
    peerId: peerIdFromPrivateKey(key),
    sent,
    go: async () => {
      child.send({ go: true })
      return finished.promise
    },
    stop: async () => {
      child.kill()
      await exited
    }
  }
}

/** The flood process */
async function flood (target: Multiaddr[], key: PrivateKey, plan: FloodPlan): Promise<void> {
  const peer = await RawPeer.create(key)
  const chat = await peer.chat(target)
  const head = chat.theirHello.blockchainInfo?.currentBlockHash ?? new Uint8Array(0)
  const payload = new Uint8Array(plan.payloadBytes).fill(0x5a)
  const go = Promise.withResolvers<void>()
  process.on('message', (msg: any) => { if (msg.go === true) go.resolve() })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true })
  await go.promise
  let frames = 0
  const timer = setInterval(() => process.send?.({ sent: { frames, bytes: chat.written } }), 50)

  for (let i = 0; i < plan.frames && chat.stream.writeStatus === 'writable'; i++) {
    const tx: Transaction = { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new TextEncoder().encode('cc'), payload, metadata: new Uint8Array(0), txid: `forged-far-${i}`, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
    await chat.write(consensus(plan.start + i * 10, [blockOf(tx, head)]))
    frames++
  }

  clearInterval(timer)
  process.send?.({ done: { frames, bytes: chat.written } })
}

if (process.argv[2] === 'flood') {
  const { target, key, plan } = JSON.parse(process.argv[3])
  await flood(target.map((addr: string) => multiaddr(addr)), privateKeyFromProtobuf(uint8ArrayFromString(key, 'base64')), plan)
}
