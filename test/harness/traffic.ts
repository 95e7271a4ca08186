/**
 * Benchmark traffic for the harness, as a module its workers load: the
 * `countEngine` (counts the messages it receives, answers PING with PONG) and
 * the `trafficPlugin` (commands: blast, broadcast, expect, rtt; over the chat,
 * or over a raw libp2p stream with the chat's framing for a baseline). The
 * `Traffic` class runs them from the harness: `trafficNode` is the spec part
 * that loads them.
 */

import { once } from 'node:events'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeFrames, FrameDecoder, framedLength } from '../../src/chat/frames.js'
import { createMessage, Message, response, Response, SendQueueFullError } from '../../src/index.js'
import { HarnessError } from '../../src/testing/index.js'
import type { Engine, HandlerFactory } from '../../src/index.js'
import type { EngineFactory, Harness, NodeSpec, PluginContext, PluginFactory } from '../../src/testing/index.js'
import type { PeerId, Stream } from '@libp2p/interface'

/** Frames sent here are decoded and counted */
export const RAW_BENCH_PROTOCOL = '/fabric-harness/raw/1.0.0'
/** Frames sent here are echoed back on the same stream */
export const RAW_ECHO_PROTOCOL = '/fabric-harness/raw-echo/1.0.0'

/** The spec part of a node that takes part in benchmark traffic */
export const trafficNode: Pick<NodeSpec, 'engine' | 'plugins'> = {
  engine: { module: import.meta.url, export: 'countEngine' },
  plugins: [{ module: import.meta.url, export: 'trafficPlugin' }]
}

/**
 * With the count engine, a RESPONSE message whose payload starts with PING is
 * answered with the same payload starting with PONG: round trips through the
 * whole chat path (both peer handlers and engine handlers).
 */
const PING = 1
const PONG = 2

interface Counter {
  received: number
  bytes: number
  /** Called when `received` reaches their target */
  waiters: Array<{ target: number, resolve: () => void }>
}

const counter = (): Counter => ({ received: 0, bytes: 0, waiters: [] })

function count (c: Counter, bytes: number): void {
  c.received++
  c.bytes += bytes
  if (c.waiters.length > 0) reached(c)
}

function reached (c: Counter): void {
  c.waiters = c.waiters.filter(w => {
    if (c.received < w.target) return true
    w.resolve()
    return false
  })
}

const tick = async (): Promise<void> => new Promise(resolve => setImmediate(resolve))

/** Counts what it receives, nothing else */
export class CountEngine implements Engine {
  readonly chat = counter()
  pong?: () => void

  processTransactionMessage (): Response {
    return response(Response.StatusCode.FAILURE, 'the count engine runs no transactions')
  }

  getHandlerFactory (): HandlerFactory {
    return (coordinator, chat) => ({
      handleMessage: (msg) => {
        if (msg.type === Message.Type.RESPONSE && msg.payload[0] === PING) {
          const payload = msg.payload.slice()
          payload[0] = PONG
          chat.send({ ...msg, payload })
          return
        }
        if (msg.type === Message.Type.RESPONSE && msg.payload[0] === PONG) {
          this.pong?.()
          return
        }
        count(this.chat, msg.payload.byteLength)
      },
      sendMessage: (msg) => { chat.send(msg) },
      to: () => chat.remoteEndpoint!,
      stop: () => {}
    })
  }
}

export const countEngine: EngineFactory = () => new CountEngine()

export const trafficPlugin: PluginFactory = async (options, ctx) => {
  const engine = ctx.engine
  if (!(engine instanceof CountEngine)) throw new Error('the traffic plugin needs the count engine')
  const traffic = new NodeTraffic(ctx, engine)
  await traffic.handleRaw()
  return {
    commands: {
      blast: async (a: { to: string, count: number, size: number, raw?: boolean }) => traffic.blast(a.to, a.count, a.size, a.raw),
      broadcast: async (a: { count: number, size: number }) => traffic.broadcast(a.count, a.size),
      expect: async (a: { total: number, raw?: boolean, timeout?: number }) => traffic.expect(a.total, a.raw, a.timeout),
      rtt: async (a: { to: string, count: number, size: number, raw?: boolean }) => traffic.rtt(a.to, a.count, a.size, a.raw)
    }
  }
}

/** The traffic commands, run in a node's process */
class NodeTraffic {
  private readonly raw = counter()
  private readonly rawStreams = new Map<string, Stream>()

  constructor (private readonly ctx: PluginContext, private readonly engine: CountEngine) {}

  /**
   * Send `count` CONSENSUS messages of `size` bytes to one peer as fast as
   * backpressure allows: over the chat, or (`raw`) over a raw libp2p stream with
   * the same framing, batched 64 frames per send as the chat batches a tick.
   */
  async blast (to: string, count: number, size: number, raw = false): Promise<{ ms: number }> {
    const peer = peerIdFromString(to)
    const msg = createMessage(Message.Type.CONSENSUS, new Uint8Array(size))
    const started = performance.now()

    if (!raw) {
      const fabric = this.ctx.node.services.fabric
      for (let i = 0; i < count;) {
        try {
          fabric.unicast(msg, peer)
          i++
          if ((i & 255) === 0) await tick()
        } catch (err) {
          if (!(err instanceof SendQueueFullError)) throw err
          await fabric.onDrain(peer, { signal: AbortSignal.timeout(30_000) })
        }
      }
      return { ms: performance.now() - started }
    }

    const stream = await this.rawStream(peer)
    // every message encoded, as the chat encodes what it is given
    const batch = Math.max(1, Math.min(64, Math.floor((1 << 20) / framedLength(Message.encode(msg)))))
    for (let sent = 0; sent < count;) {
      const n = Math.min(batch, count - sent)
      const bodies = Array.from({ length: n }, () => Message.encode(msg))
      if (!stream.send(encodeFrames(bodies, 0, n, bodies.reduce((b, body) => b + framedLength(body), 0)))) {
        await once(stream as any, 'drain', { signal: AbortSignal.timeout(30_000) })
      }
      sent += n
    }
    return { ms: performance.now() - started }
  }

  /** One message to every established chat, `count` times, retrying a full queue after a tick */
  async broadcast (count: number, size: number): Promise<{ ms: number }> {
    const fabric = this.ctx.node.services.fabric
    const msg = createMessage(Message.Type.CONSENSUS, new Uint8Array(size))
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      let waiting: PeerId[] = fabric.broadcast(msg).failed.map(f => f.peerId)
      while (waiting.length > 0) {
        // a full queue is backpressure: wait for room, then send those peers their copy
        await Promise.all(waiting.map(async p => fabric.onDrain(p, { signal: AbortSignal.timeout(30_000) })))
        waiting = waiting.filter(p => {
          try {
            fabric.unicast(msg, p)
            return false
          } catch (err) {
            if (err instanceof SendQueueFullError) return true
            throw err
          }
        })
      }
      if ((i & 255) === 255) await tick()
    }
    return { ms: performance.now() - started }
  }

  private async rawStream (peer: PeerId): Promise<Stream> {
    let stream = this.rawStreams.get(peer.toString())
    if (stream == null || stream.status !== 'open') {
      stream = await this.ctx.node.dialProtocol(peer, RAW_BENCH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      this.rawStreams.set(peer.toString(), stream)
    }
    return stream
  }

  async handleRaw (): Promise<void> {
    await this.ctx.node.handle(RAW_BENCH_PROTOCOL, (stream) => {
      const decoder = new FrameDecoder(8 * 1024 * 1024)
      stream.addEventListener('message', (evt) => {
        for (const frame of decoder.push(evt.data)) {
          // decoded as the chat decodes, so both sides do the same work
          count(this.raw, Message.decode(frame).payload.byteLength)
        }
      })
    })
    await this.ctx.node.handle(RAW_ECHO_PROTOCOL, (stream) => {
      const decoder = new FrameDecoder(8 * 1024 * 1024)
      stream.addEventListener('message', (evt) => {
        const frames = [...decoder.push(evt.data)].map(f => Message.encode(Message.decode(f)))
        if (frames.length > 0) stream.send(encodeFrames(frames, 0, frames.length, frames.reduce((n, f) => n + framedLength(f), 0)))
      })
    })
  }

  /** Resolves when `total` messages (chat, or raw frames) have arrived since the node started, or rejects after `timeout` ms */
  async expect (total: number, raw = false, timeout = 120_000): Promise<{ received: number, bytes: number }> {
    const c = raw ? this.raw : this.engine.chat
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.waiters = c.waiters.filter(w => w !== waiter)
        reject(new Error(`${this.ctx.name}: ${c.received} of ${total} ${raw ? 'raw frames' : 'messages'} after ${timeout} ms`))
      }, timeout)
      const waiter = { target: total, resolve: () => { clearTimeout(timer); resolve() } }
      c.waiters.push(waiter)
      reached(c)
    })
    return { received: c.received, bytes: c.bytes }
  }

  /**
   * `count` round trips of a `size`-byte message to `to`, one at a time: over
   * the chat (a count engine at both ends) or a raw echo stream. Milliseconds each.
   */
  async rtt (to: string, count: number, size: number, raw = false): Promise<number[]> {
    const peer = peerIdFromString(to)
    const payload = new Uint8Array(size)
    payload[0] = PING
    const msg = createMessage(Message.Type.RESPONSE, payload)
    const times: number[] = []
    const deadline = AbortSignal.timeout(60_000)

    if (!raw) {
      for (let i = 0; i < count && !deadline.aborted; i++) {
        const back = new Promise<void>(resolve => { this.engine.pong = resolve })
        const t0 = performance.now()
        this.ctx.node.services.fabric.unicast(msg, peer)
        await back
        times.push(performance.now() - t0)
      }
      return times
    }

    const stream = await this.ctx.node.dialProtocol(peer, RAW_ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const decoder = new FrameDecoder(8 * 1024 * 1024)
    let answered = (): void => {}
    stream.addEventListener('message', (evt) => { for (const f of decoder.push(evt.data)) { Message.decode(f); answered() } })
    for (let i = 0; i < count && !deadline.aborted; i++) {
      const back = new Promise<void>(resolve => { answered = resolve })
      const t0 = performance.now()
      const body = Message.encode(msg)
      stream.send(encodeFrames([body], 0, 1, framedLength(body)))
      await back
      times.push(performance.now() - t0)
    }
    await stream.close()
    return times
  }
}

/** The traffic commands, run from the harness on nodes started with `trafficNode` */
export class Traffic {
  constructor (private readonly h: Harness) {}

  private peerId (name: string): string {
    const id = this.h.node(name).peerId
    if (id == null) throw new HarnessError(`${name} has not started`)
    return id
  }

  /** `from` sends `count` CONSENSUS messages of `size` bytes to `to` (over its chat, or a raw stream) */
  async blast (from: string, to: string, count: number, size: number, raw = false, timeout = 120_000): Promise<{ ms: number }> {
    return this.h.call(from, 'blast', { to: this.peerId(to), count, size, raw }, timeout)
  }

  async broadcast (from: string, count: number, size: number, timeout = 120_000): Promise<{ ms: number }> {
    return this.h.call(from, 'broadcast', { count, size }, timeout)
  }

  /** Resolves when `total` messages (or raw frames) have reached `name` since it started */
  async expect (name: string, total: number, raw = false, timeout = 120_000): Promise<{ received: number, bytes: number }> {
    return this.h.call(name, 'expect', { total, raw, timeout }, timeout + 5_000)
  }

  /** Round trips from `from` to `to`, one at a time; ms each */
  async rtt (from: string, to: string, count: number, size = 100, raw = false): Promise<number[]> {
    return this.h.call(from, 'rtt', { to: this.peerId(to), count, size, raw }, 120_000)
  }
}
