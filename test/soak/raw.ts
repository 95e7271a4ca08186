/**
 * The attacker's tools: plain libp2p nodes (a fresh identity each) that open
 * streams themselves and write bytes by hand. Nothing here uses the
 * project's ChatStream or senders; only its protobuf codecs and frame decoder
 * to build and read bytes.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import * as varint from 'uint8-varint'
import { FrameDecoder } from '../../src/chat/frames.js'
import { CHAT_PROTOCOL, createMessage, HelloMessage, Message, PeerEndpoint } from '../../src/index.js'
import { frame } from '../helpers/fake-peer.js'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export { frame }

/** A plain libp2p node with a fresh identity that listens nowhere: it only dials */
export async function attackerNode (privateKey?: PrivateKey): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

/** A correct DISC_HELLO of `node`, as a non-validator without an address (nothing to dial back) */
export function helloOf (node: Libp2p, type = PeerEndpoint.Type.NON_VALIDATOR): Message {
  return createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
    peerEndpoint: {
      ID: { name: node.peerId.toString() },
      address: '',
      type,
      pkiID: publicKeyToProtobuf(node.peerId.publicKey!) as Uint8Array<ArrayBuffer>
    }
  }))
}

/** `count` copies of one frame in one buffer: one `send()` for many frames */
export function repeated (oneFrame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(oneFrame.byteLength * count)

  for (let i = 0; i < count; i++) {
    out.set(oneFrame, i * oneFrame.byteLength)
  }

  return out
}

/** A length prefix alone: the start of a frame of `length` bytes */
export function prefix (length: number): Uint8Array {
  return varint.encode(length)
}

/**
 * Bytes a writer leaves in a stream's write buffer before it waits. `send()`
 * returning true is no promise that the bytes left: a writer in a loop can
 * queue gigabytes in the buffer while the muxer waits for window, so the
 * attacks count only what has left the buffer (or is about to).
 */
const WRITE_BUFFER_LIMIT = 1024 * 1024

/**
 * Write `bytes`, then wait until the stream's write buffer is down to
 * WRITE_BUFFER_LIMIT, at most until `deadline`. False when the stream closed
 * or the deadline passed first.
 */
export async function write (stream: Stream, bytes: Uint8Array, deadline: number): Promise<boolean> {
  if (stream.writeStatus !== 'writable') {
    return false
  }

  try {
    stream.send(bytes)
  } catch {
    return false
  }

  while (stream.writeBufferLength > WRITE_BUFFER_LIMIT) {
    if (stream.writeStatus !== 'writable' || Date.now() >= deadline) {
      return false
    }

    await sleep(Math.min(5, deadline - Date.now()))
  }

  return stream.writeStatus === 'writable'
}

/** Every message arriving on a stream, decoded; counts what the node sends */
export class Inbox {
  readonly byType = new Map<Message.Type, number>()
  /** Messages, capped: the attacker keeps only what it looks at */
  readonly messages: Message[] = []
  undecodable = 0
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024)
  private readonly waiters: Array<{ type: Message.Type, resolve(msg: Message | undefined): void }> = []

  /** Called with every message, before waiters */
  onMessage?: (msg: Message) => void

  constructor (stream: Stream, keep = 64) {
    stream.addEventListener('message', (evt) => {
      let frames: Uint8Array[]

      try {
        frames = this.decoder.push(evt.data)
      } catch {
        this.undecodable++
        return
      }

      for (const f of frames) {
        let msg: Message

        try {
          msg = Message.decode(f)
        } catch {
          this.undecodable++
          continue
        }

        this.byType.set(msg.type, (this.byType.get(msg.type) ?? 0) + 1)
        this.onMessage?.(msg)

        if (this.messages.length < keep) {
          this.messages.push(msg)
        }

        for (const waiter of this.waiters.filter(w => w.type === msg.type)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1)
          waiter.resolve(msg)
        }
      }
    })
    stream.addEventListener('close', () => {
      for (const waiter of this.waiters.splice(0)) {
        waiter.resolve(undefined)
      }
    })
  }

  count (type: Message.Type): number {
    return this.byType.get(type) ?? 0
  }

  /** The next message of `type`, or undefined after `timeout` ms or when the stream closes */
  async next (type: Message.Type, timeout: number): Promise<Message | undefined> {
    return new Promise((resolve) => {
      const waiter = {
        type,
        resolve: (msg: Message | undefined) => {
          clearTimeout(timer)
          resolve(msg)
        }
      }
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        resolve(undefined)
      }, timeout)
      this.waiters.push(waiter)
    })
  }
}

export interface RawChat {
  stream: Stream
  inbox: Inbox
}

/**
 * Open a chat stream to `target` by hand; with `hello`, send our DISC_HELLO
 * and wait (at most `timeout` ms) for the node's.
 *
 * @throws when the stream cannot be opened, or the node does not answer the hello
 */
export async function openChat (node: Libp2p, target: Multiaddr, options: { hello: boolean, timeout?: number, sign?(msg: Message): Message }): Promise<RawChat> {
  const timeout = options.timeout ?? 10_000
  const stream = await node.dialProtocol(target, CHAT_PROTOCOL, { signal: AbortSignal.timeout(timeout) })
  const inbox = new Inbox(stream)

  if (options.hello) {
    const hello = helloOf(node)
    const answered = inbox.next(Message.Type.DISC_HELLO, timeout)
    stream.send(frame(options.sign?.(hello) ?? hello))

    if ((await answered) == null) {
      stream.abort(new Error('no hello answer'))
      throw new Error(`no DISC_HELLO answer within ${timeout}ms (stream ${stream.status})`)
    }
  }

  return { stream, inbox }
}

/** Resolves when the stream is no longer open, or after `ms` */
export async function closedOrAfter (stream: Stream, ms: number): Promise<boolean> {
  if (stream.status !== 'open') {
    return true
  }

  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.removeEventListener('close', onClose)
      resolve(false)
    }, ms)
    const onClose = (): void => {
      clearTimeout(timer)
      resolve(true)
    }
    stream.addEventListener('close', onClose, { once: true })
  })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * At most `perSecond` new connections a second from this process: the node's
 * per-host limit (inboundConnectionThreshold, 5 a second) would refuse more
 * from 127.0.0.1, and the attacks are about what gets through it.
 */
export class ConnectionPace {
  private readonly gap: number
  private next = 0

  constructor (perSecond: number) {
    this.gap = 1000 / perSecond
  }

  async take (): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.next)
    this.next = at + this.gap

    if (at > now) {
      await sleep(at - now)
    }
  }
}
