/**
 * One harness node: a libp2p node with the fabric service built from a
 * `ResolvedSpec`, with what the harness asks of it (status, transactions,
 * benchmark traffic). Runs inside a worker process, or in the harness's own
 * process.
 */

import { once } from 'node:events'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { encodeFrames, FrameDecoder, framedLength } from '../../src/chat/frames.js'
import { openDataDir } from '../../src/identity.js'
import { createMessage, DatastoreLedger, fabricPeer, Message, noopsEngine, PeerEndpoint, responseText, SendQueueFullError, Transaction } from '../../src/index.js'
import type { NodeCommand, NodeEvent, NodeStatus, ResolvedSpec, TxResult } from './protocol.js'
import type { FabricPeer, HandlerFactory } from '../../src/index.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** Frames sent here are decoded and counted; with `rawBench` */
export const RAW_BENCH_PROTOCOL = '/fabric-harness/raw/1.0.0'
/** Frames sent here are echoed back on the same stream; with `rawBench` */
export const RAW_ECHO_PROTOCOL = '/fabric-harness/raw-echo/1.0.0'

/**
 * With the 'count' engine, a RESPONSE message whose payload starts with PING is
 * answered with the same payload starting with PONG: round trips through the
 * whole chat path (both peer handlers and engine handlers).
 */
const PING = 1
const PONG = 2

interface Counters {
  failedDials: number
  /** Failed dials by error name and message (numbers stripped), for reports */
  dialErrors: Record<string, number>
  received: number
  receivedBytes: number
  rawReceived: number
  rawReceivedBytes: number
  /** Called when a received counter reaches its target */
  waiters: Array<{ raw: boolean, target: number, resolve: () => void }>
  pong?: () => void
}

function reached (c: Counters, raw: boolean): void {
  const n = raw ? c.rawReceived : c.received
  c.waiters = c.waiters.filter(w => {
    if (w.raw !== raw || n < w.target) return true
    w.resolve()
    return false
  })
}

const tick = async (): Promise<void> => new Promise(resolve => setImmediate(resolve))

export class NodeHost {
  readonly spec: ResolvedSpec
  readonly node: Libp2p<{ fabric: FabricPeer }>
  private readonly datastore: Datastore & { close?: () => Promise<void> }
  private readonly ledger: DatastoreLedger
  private readonly counters: Counters
  private readonly rawStreams = new Map<string, Stream>()
  private stopping?: Promise<void>

  private constructor (spec: ResolvedSpec, node: Libp2p<{ fabric: FabricPeer }>, datastore: Datastore, ledger: NodeHost['ledger'], counters: Counters) {
    this.spec = spec
    this.counters = counters
    this.node = node
    this.datastore = datastore
    this.ledger = ledger
  }

  /** Build and start the node; `onEvent` hears its chat events */
  static async start (spec: ResolvedSpec, onEvent: (event: NodeEvent) => void): Promise<NodeHost> {
    const { datastore, privateKey } = spec.dataDir != null
      ? await openDataDir(spec.dataDir)
      : { datastore: new MemoryDatastore(), privateKey: undefined }
    const validator = spec.validator ?? true
    const engineKind = spec.engine ?? (validator ? 'noops' : 'none')
    const ledger = await new DatastoreLedger(datastore).open()
    const counters: Counters = { failedDials: 0, dialErrors: {}, received: 0, receivedBytes: 0, rawReceived: 0, rawReceivedBytes: 0, waiters: [] }
    const countingHandlers: HandlerFactory = (coordinator, chat) => ({
      handleMessage: (msg) => {
        if (msg.type === Message.Type.RESPONSE && msg.payload[0] === PING) {
          const payload = msg.payload.slice()
          payload[0] = PONG
          chat.send({ ...msg, payload })
          return
        }
        if (msg.type === Message.Type.RESPONSE && msg.payload[0] === PONG) {
          counters.pong?.()
          return
        }
        counters.received++
        counters.receivedBytes += msg.payload.byteLength
        if (counters.waiters.length > 0) reached(counters, false)
      },
      sendMessage: (msg) => { chat.send(msg) },
      to: () => chat.remoteEndpoint!,
      stop: () => {}
    })
    const limits = spec.libp2p ?? {}

    const node = await createLibp2p({
      privateKey,
      datastore,
      addresses: { listen: [`/ip4/${spec.host ?? '127.0.0.1'}/tcp/${spec.port ?? 0}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        // a whole network on one host: libp2p's per-host inbound limits are meant for the internet
        inboundConnectionThreshold: limits.inboundConnectionThreshold ?? 10_000,
        maxIncomingPendingConnections: limits.maxIncomingPendingConnections ?? 10_000,
        maxConnections: limits.maxConnections,
        maxParallelDials: limits.maxParallelDials,
        dialTimeout: limits.dialTimeout,
        inboundUpgradeTimeout: limits.inboundUpgradeTimeout
      },
      services: {
        fabric: fabricPeer({
          ...spec.fabric,
          validator,
          rootNodes: spec.rootNodes,
          ledger,
          engine: engineKind === 'noops' ? noopsEngine({ ledger, logger: defaultLogger(), settleTime: spec.settleTime }) : undefined,
          handlerFactory: engineKind === 'count' ? countingHandlers : undefined
        })
      }
    })

    const host = new NodeHost(spec, node, datastore, ledger, counters)
    host.watch(onEvent)
    if (spec.rawBench === true) await host.handleRaw()
    return host
  }

  private watch (onEvent: (event: NodeEvent) => void): void {
    const fabric = this.node.services.fabric
    const name = this.spec.name
    fabric.addEventListener('peer:established', (evt) => { onEvent({ at: Date.now(), node: name, type: 'established', peer: evt.detail.peerId.toString() }) })
    fabric.addEventListener('peer:closed', (evt) => { onEvent({ at: Date.now(), node: name, type: 'closed', peer: evt.detail.peerId.toString(), detail: evt.detail.reason }) })
    fabric.addEventListener('peer:rejected', (evt) => { onEvent({ at: Date.now(), node: name, type: 'rejected', peer: evt.detail.peerId.toString(), detail: evt.detail.reason }) })
    fabric.addEventListener('peer:overflow', (evt) => { onEvent({ at: Date.now(), node: name, type: 'overflow', peer: evt.detail.peerId.toString(), detail: `${evt.detail.queued} queued` }) })

    // every dial goes through chatWithPeer (the touch loop's too): count the failures
    const chatWithPeer = fabric.chatWithPeer.bind(fabric)
    fabric.chatWithPeer = async (target, options) => {
      try {
        return await chatWithPeer(target, options)
      } catch (err: any) {
        this.counters.failedDials++
        const key = `${err?.name ?? 'Error'}: ${String(err?.message ?? err).replace(/\/p2p\/\w+|12D3\w+|\d+/g, '#').slice(0, 120)}`
        this.counters.dialErrors[key] = (this.counters.dialErrors[key] ?? 0) + 1
        throw err
      }
    }
  }

  status (): NodeStatus {
    const fabric = this.node.services.fabric
    const peers = fabric.getPeers().peers
    const info = this.ledger.getBlockchainInfo()
    const cpu = process.cpuUsage()
    return {
      name: this.spec.name,
      peerId: this.node.peerId.toString(),
      addresses: this.node.getMultiaddrs().map(String),
      validator: this.spec.validator ?? true,
      validators: peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).map(p => p.ID?.name ?? ''),
      nonValidators: peers.filter(p => p.type === PeerEndpoint.Type.NON_VALIDATOR).map(p => p.ID?.name ?? ''),
      discovery: fabric.discovery.size,
      height: info.height,
      head: Buffer.from(info.currentBlockHash).toString('hex').slice(0, 8),
      failedDials: this.counters.failedDials,
      dialErrors: this.counters.dialErrors,
      received: this.counters.received,
      receivedBytes: this.counters.receivedBytes,
      rawReceived: this.counters.rawReceived,
      rawReceivedBytes: this.counters.rawReceivedBytes,
      cpuMicros: cpu.user + cpu.system,
      rss: process.memoryUsage().rss
    }
  }

  /** Run a harness command for this node (from the worker's IPC, or inline) */
  async run (cmd: NodeCommand): Promise<unknown> {
    switch (cmd.cmd) {
      case 'submit': return this.submit(cmd.txid, cmd.payload)
      case 'blast': return this.blast(cmd.to, cmd.count, cmd.size, cmd.raw)
      case 'broadcast': return this.broadcast(cmd.count, cmd.size)
      case 'expect': return this.expect(cmd.total, cmd.raw, cmd.timeout)
      case 'rtt': return this.rtt(cmd.to, cmd.count, cmd.size, cmd.raw)
      case 'dial': return this.dial(cmd.to)
      case 'ledger': return this.ledgerSummary()
    }
  }

  /** Submit a transaction here (a validator runs it, a non-validator forwards it) */
  async submit (txid: string, payload = `harness transaction ${txid}`): Promise<TxResult> {
    const started = performance.now()
    const tx: Transaction = {
      type: Transaction.Type.CHAINCODE_INVOKE,
      chaincodeID: new TextEncoder().encode('harness'),
      payload: new TextEncoder().encode(payload),
      metadata: new Uint8Array(0),
      txid,
      nonce: crypto.getRandomValues(new Uint8Array(8)),
      cert: new Uint8Array(0),
      signature: new Uint8Array(0)
    }
    const res = await this.node.services.fabric.processTransaction(tx)
    return { txid, status: res.status, message: responseText(res), ms: performance.now() - started }
  }

  /** The ledger: height, head and every transaction id in block order */
  async ledgerSummary (): Promise<{ height: number, head: string, txids: string[] }> {
    const info = this.ledger.getBlockchainInfo()
    const txids: string[] = []
    for (let n = 0; n < info.height; n++) {
      const block = await this.ledger.getBlock(n)
      for (const tx of block?.transactions ?? []) txids.push(tx.txid)
    }
    return { height: info.height, head: Buffer.from(info.currentBlockHash).toString('hex').slice(0, 8), txids }
  }

  /** Dial these multiaddrs for a chat */
  async dial (to: string[]): Promise<void> {
    await this.node.services.fabric.chatWithPeer(to.map(a => multiaddr(a)))
  }

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
      const fabric = this.node.services.fabric
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
    const fabric = this.node.services.fabric
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
      stream = await this.node.dialProtocol(peer, RAW_BENCH_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      this.rawStreams.set(peer.toString(), stream)
    }
    return stream
  }

  private async handleRaw (): Promise<void> {
    await this.node.handle(RAW_BENCH_PROTOCOL, (stream) => {
      const decoder = new FrameDecoder(8 * 1024 * 1024)
      stream.addEventListener('message', (evt) => {
        for (const frame of decoder.push(evt.data)) {
          // decoded as the chat decodes, so both sides do the same work
          const msg = Message.decode(frame)
          this.counters.rawReceived++
          this.counters.rawReceivedBytes += msg.payload.byteLength
          if (this.counters.waiters.length > 0) reached(this.counters, true)
        }
      })
    })
    await this.node.handle(RAW_ECHO_PROTOCOL, (stream) => {
      const decoder = new FrameDecoder(8 * 1024 * 1024)
      stream.addEventListener('message', (evt) => {
        const frames = [...decoder.push(evt.data)].map(f => Message.encode(Message.decode(f)))
        if (frames.length > 0) stream.send(encodeFrames(frames, 0, frames.length, frames.reduce((n, f) => n + framedLength(f), 0)))
      })
    })
  }

  /** Resolves when `total` messages (chat, or raw frames) have arrived since the node started, or rejects after `timeout` ms */
  async expect (total: number, raw = false, timeout = 120_000): Promise<{ received: number, bytes: number }> {
    const c = this.counters
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.waiters = c.waiters.filter(w => w !== waiter)
        reject(new Error(`${this.spec.name}: ${raw ? c.rawReceived : c.received} of ${total} ${raw ? 'raw frames' : 'messages'} after ${timeout} ms`))
      }, timeout)
      const waiter = { raw, target: total, resolve: () => { clearTimeout(timer); resolve() } }
      c.waiters.push(waiter)
      reached(c, raw)
    })
    return { received: raw ? c.rawReceived : c.received, bytes: raw ? c.rawReceivedBytes : c.receivedBytes }
  }

  /**
   * `count` round trips of a `size`-byte message to `to`, one at a time: over
   * the chat (a 'count' engine at both ends) or a raw echo stream. Milliseconds each.
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
        const back = new Promise<void>(resolve => { this.counters.pong = resolve })
        const t0 = performance.now()
        this.node.services.fabric.unicast(msg, peer)
        await back
        times.push(performance.now() - t0)
      }
      return times
    }

    const stream = await this.node.dialProtocol(peer, RAW_ECHO_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
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

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      await this.node.stop()
      await this.datastore.close?.()
    })()
    return this.stopping
  }
}
