/**
 * P2-P4: the Chat against a raw libp2p stream with the same framing,
 * measured in the same process.
 * - P2: 1 MiB messages one way, MB/s
 * - P3: round trips of a 100-byte message, median and p99
 * - P4: one validator broadcasting 100-byte messages to 15 peers, deliveries/s
 */

import { once } from 'node:events'
import { FrameDecoder, encodeFrames, framedLength } from '../../src/chat/frames.js'
import { createMessage, Message, SendQueueFullError } from '../../src/index.js'
import { createNode, createRawNode } from '../helpers/nodes.js'
import type { FabricNode } from '../helpers/nodes.js'
import type { Libp2p, Stream } from '@libp2p/interface'

type Counter = (msg: Message) => void

/** A node whose engine handler hands every message to `onMessage` */
async function chatNode (onMessage: Counter = () => {}): Promise<FabricNode> {
  return createNode({
    fabric: {
      touchPeriod: 0,
      maxMessagesPerSecond: 1e9,
      sendQueueSize: 4_096,
      handlerFactory: (c, chat) => ({
        handleMessage: onMessage,
        sendMessage: (m) => { chat.send(m) },
        to: () => chat.remoteEndpoint!,
        stop: () => {}
      })
    }
  })
}

/** Queue on a chat, waiting for room (onDrain) whenever its queue is full */
export async function sendAll (node: FabricNode, to: FabricNode, msg: Message, count: number): Promise<void> {
  for (let i = 0; i < count;) {
    try {
      node.services.fabric.unicast(msg, to.peerId)
      i++
    } catch (err) {
      if (!(err instanceof SendQueueFullError)) throw err
      await node.services.fabric.onDrain(to.peerId, { signal: AbortSignal.timeout(30_000) })
    }
  }
}

/** A raw libp2p stream pair whose receiving side decodes frames and calls `onMessage` */
async function rawPair (onMessage: Counter): Promise<{ nodes: Libp2p[], stream: Stream, reply: () => Stream }> {
  const protocol = '/bench/raw/1.0.0'
  const [a, b] = await Promise.all([createRawNode(), createRawNode()])
  let inbound!: Stream
  await b.handle(protocol, (stream) => {
    inbound = stream
    const decoder = new FrameDecoder(8 * 1024 * 1024)
    stream.addEventListener('message', (evt) => { for (const f of decoder.push(evt.data)) onMessage(Message.decode(f)) })
  })
  const stream = await a.dialProtocol(b.getMultiaddrs(), protocol)
  return { nodes: [a, b], stream, reply: () => inbound }
}

async function rawSend (stream: Stream, msgs: Message[]): Promise<void> {
  const bodies = msgs.map(m => Message.encode(m))
  const bytes = bodies.reduce((n, b) => n + framedLength(b), 0)
  if (!stream.send(encodeFrames(bodies, 0, bodies.length, bytes))) {
    await once(stream as any, 'drain')
  }
}

export interface Throughput { name: string, mbps: number }

/** P2: `count` messages of 1 MiB, one way */
export async function bigMessages (count: number): Promise<Throughput[]> {
  const msg = createMessage(Message.Type.CONSENSUS, new Uint8Array(1024 * 1024))
  const mb = count * msg.payload.byteLength / 1e6

  let got = 0
  let done!: () => void
  let finished = new Promise<void>(resolve => { done = resolve })
  const receiver = await chatNode(() => { if (++got === count) done() })
  const sender = await chatNode()
  await sender.services.fabric.chatWithPeer(receiver.getMultiaddrs())
  let start = performance.now()
  await sendAll(sender, receiver, msg, count)
  await finished
  const chat = mb / ((performance.now() - start) / 1000)
  await Promise.all([sender.stop(), receiver.stop()])

  got = 0
  finished = new Promise<void>(resolve => { done = resolve })
  const raw = await rawPair(() => { if (++got === count) done() })
  start = performance.now()
  for (let i = 0; i < count; i++) await rawSend(raw.stream, [msg])
  await finished
  const rawRate = mb / ((performance.now() - start) / 1000)
  await Promise.all(raw.nodes.map(async n => n.stop()))

  return [{ name: 'fabric chat', mbps: chat }, { name: 'raw libp2p stream', mbps: rawRate }]
}

export interface Latency { name: string, median: number, p99: number }

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

/** P3: `count` round trips of a 100-byte message (the other side echoes it) */
export async function roundTrips (count: number): Promise<Latency[]> {
  const msg = createMessage(Message.Type.CONSENSUS, new Uint8Array(100))
  let answered!: () => void

  // chat: b echoes through its engine handler, a times the answers
  const b = await createNode({
    fabric: {
      touchPeriod: 0,
      handlerFactory: (c, chat) => ({ handleMessage: (m) => { chat.send(m) }, sendMessage: (m) => { chat.send(m) }, to: () => chat.remoteEndpoint!, stop: () => {} })
    }
  })
  const a = await chatNode(() => { answered() })
  await a.services.fabric.chatWithPeer(b.getMultiaddrs())
  const chat: number[] = []
  for (let i = 0; i < count; i++) {
    const back = new Promise<void>(resolve => { answered = resolve })
    const t0 = performance.now()
    a.services.fabric.unicast(msg, b.peerId)
    await back
    chat.push(performance.now() - t0)
  }
  await Promise.all([a.stop(), b.stop()])

  // raw: the listener echoes each frame on the same stream
  let pair!: Awaited<ReturnType<typeof rawPair>>
  pair = await rawPair((m) => { void rawSend(pair.reply(), [m]) })
  const decoder = new FrameDecoder(1024 * 1024)
  pair.stream.addEventListener('message', (evt) => { for (const _ of decoder.push(evt.data)) answered() })
  const raw: number[] = []
  for (let i = 0; i < count; i++) {
    const back = new Promise<void>(resolve => { answered = resolve })
    const t0 = performance.now()
    await rawSend(pair.stream, [msg])
    await back
    raw.push(performance.now() - t0)
  }
  await Promise.all(pair.nodes.map(async n => n.stop()))

  return [
    { name: 'fabric chat', median: percentile(chat, 0.5), p99: percentile(chat, 0.99) },
    { name: 'raw libp2p stream', median: percentile(raw, 0.5), p99: percentile(raw, 0.99) }
  ]
}

/** P4: one node broadcasts `count` messages to `peers` peers; deliveries per second across all of them */
export async function broadcastRate (peers: number, count: number): Promise<number> {
  let delivered = 0
  const total = peers * count
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  const source = await chatNode()
  const sinks = await Promise.all(Array.from({ length: peers }, async () => chatNode(() => { if (++delivered === total) done() })))

  try {
    for (const s of sinks) await s.services.fabric.chatWithPeer(source.getMultiaddrs())
    const msg = createMessage(Message.Type.CONSENSUS, new Uint8Array(100))
    const start = performance.now()

    for (let i = 0; i < count; i++) {
      const { failed } = source.services.fabric.broadcast(msg)
      if (failed.length > 0) {
        // a full queue is backpressure: wait for room, then retry those peers
        let waiting = failed.map(f => f.peerId)
        while (waiting.length > 0) {
          await Promise.all(waiting.map(async p => source.services.fabric.onDrain(p, { signal: AbortSignal.timeout(30_000) })))
          waiting = waiting.filter(p => { try { source.services.fabric.unicast(msg, p); return false } catch { return true } })
        }
      }
      if (i % 256 === 255) await new Promise(resolve => setImmediate(resolve))
    }

    await finished
    return total / ((performance.now() - start) / 1000)
  } finally {
    await Promise.all([source.stop(), ...sinks.map(async s => s.stop())])
  }
}
