import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { CHAT_PROTOCOL, createMessage, Message } from '../src/index.js'
import { FakePeer } from './helpers/fake-peer.js'
import { createNode, nextEvent, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { ChatSender, FabricPeerInit } from '../src/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'

const running: Array<Libp2p | FakePeer> = []
afterEach(async () => { await Promise.all(running.splice(0).map(async n => n.stop())) })

async function node (init: FabricPeerInit = {}): Promise<FabricNode> {
  const n = await createNode({ fabric: { touchPeriod: 0, ...init } })
  running.push(n)
  return n
}

describe('limits on what a peer can make us do', () => {
  it('a peer that never reads fills only its own queue: a broadcast still reaches 5 others, and the stalled peer is dropped with a reason', async () => {
    // a full queue on a peer that still reads is backpressure; one that reads nothing for sendStallTimeout is dropped
    const sender = await node({ sendQueueSize: 200, sendStallTimeout: 300, discoveryPeriod: 200 })
    const good = await Promise.all([1, 2, 3, 4, 5].map(async () => node()))
    for (const g of good) await g.services.fabric.chatWithPeer(sender.getMultiaddrs())

    const stalled = await FakePeer.create()
    running.push(stalled)
    await stalled.hello(sender.getMultiaddrs())
    // stop reading: yamux stops granting the sender window
    stalled.stream!.pause()

    const received = good.map(() => [] as number[])
    good.forEach((g, i) => {
      g.services.fabric.addEventListener('message', ({ detail }) => {
        if (detail.message.type === Message.Type.CONSENSUS) received[i].push(new DataView(detail.message.payload.buffer, detail.message.payload.byteOffset).getUint32(0))
      })
    })
    const overflow = nextEvent(sender.services.fabric, 'peer:overflow', d => d.peerId.equals(stalled.node.peerId))
    const dropped = nextEvent(sender.services.fabric, 'peer:closed', d => d.peerId.equals(stalled.node.peerId))

    // 2 000 messages of 1 KiB, 50 per tick: honest peers keep up, the stalled one cannot
    const count = 2_000
    for (let i = 0; i < count; i++) {
      const payload = new Uint8Array(1024)
      new DataView(payload.buffer).setUint32(0, i)
      const result = sender.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, payload))
      if (i === 0) assert.equal(result.sent.length, 6)
      for (const g of good) assert.ok(result.sent.some(p => p.equals(g.peerId)), `message ${i} not queued for an honest peer`)
      if (i % 50 === 49) await new Promise(resolve => setTimeout(resolve, 1))
    }

    assert.equal((await overflow).queued, 200)
    assert.match((await dropped).reason, /^send queue stalled: 200 frames unread for over 300ms$/)
    await waitFor(() => received.every(r => r.length === count), 'every honest peer to receive every message', 15_000)
    for (const r of received) assert.deepEqual(r, Array.from({ length: count }, (_, i) => i))
    assert.equal(sender.services.fabric.isEstablished(stalled.node.peerId), false)
    assert.equal(sender.services.fabric.getPeers().peers.length, 5)
  })
})

describe('stall detection', () => {
  it('an honest peer that was idle and then gets a burst is not taken for stalled', async () => {
    const sender = await node({ sendQueueSize: 50, sendStallTimeout: 300, discoveryPeriod: 200 })
    const peer = await node()
    await peer.services.fabric.chatWithPeer(sender.getMultiaddrs())
    let closed = false
    sender.services.fabric.addEventListener('peer:closed', () => { closed = true })

    // idle for longer than sendStallTimeout, across several sweeps
    await new Promise(resolve => setTimeout(resolve, 800))
    let sent = 0
    for (let i = 0; i < 60; i++) {
      try { sender.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new Uint8Array(100)), peer.peerId); sent++ } catch {}
    }
    await new Promise(resolve => setTimeout(resolve, 800))

    assert.ok(sent >= 50)
    assert.equal(closed, false, 'an honest peer was dropped')
    assert.equal(sender.services.fabric.isEstablished(peer.peerId), true)
  })
})

describe('message rate per peer', () => {
  it('a peer flooding above maxMessagesPerSecond is throttled; another peer is not', async () => {
    const target = await node({ maxMessagesPerSecond: 500 })
    const flooder = await node({ sendQueueSize: 5_000 })
    const honest = await node()
    await flooder.services.fabric.chatWithPeer(target.getMultiaddrs())
    await honest.services.fabric.chatWithPeer(target.getMultiaddrs())

    const arrivals = new Map<string, number[]>([[flooder.peerId.toString(), []], [honest.peerId.toString(), []]])
    target.services.fabric.addEventListener('message', ({ detail }) => {
      if (detail.message.type === Message.Type.CONSENSUS) arrivals.get(detail.peerId.toString())?.push(performance.now())
    })

    // the flooder queues 2 000 messages at once; the honest peer sends 20 during the flood
    const start = performance.now()
    for (let i = 0; i < 2_000; i++) flooder.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new Uint8Array(10)), target.peerId)
    for (let i = 0; i < 20; i++) {
      honest.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new Uint8Array(10)), target.peerId)
      await new Promise(resolve => setTimeout(resolve, 20))
    }

    const flood = arrivals.get(flooder.peerId.toString())!
    const fair = arrivals.get(honest.peerId.toString())!
    await waitFor(() => fair.length === 20, 'the honest peer\'s messages', 5_000)
    // within the first second the flooder got at most its 500 through
    assert.ok(flood.filter(t => t - start < 950).length <= 500, `${flood.filter(t => t - start < 950).length} flood messages in the first second`)
    // and the honest peer was not held up by it: its last message arrived while the flood was still being held back
    assert.ok(fair.at(-1)! - start < 1_500, `the honest peer's messages took ${Math.round(fair.at(-1)! - start)}ms`)
    // the flooder is throttled, not dropped: everything arrives, spread over seconds
    await waitFor(() => flood.length === 2_000, 'the throttled flood to arrive', 10_000)
    assert.ok(flood.at(-1)! - start >= 2_900, 'the flood was not spread over 4 seconds')
    assert.equal(target.services.fabric.isEstablished(flooder.peerId), true)
  })
})

describe('streams per connection', () => {
  it('a connection may open at most maxInboundStreams chat streams at once', async () => {
    const target = await node({ maxInboundStreams: 2, helloTimeout: 5_000 })
    const raw = await FakePeer.create()
    running.push(raw)

    // silent streams: the ones the target accepts stay open until its hello timeout
    const streams: Stream[] = []
    for (let i = 0; i < 4; i++) {
      streams.push(await raw.node.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL, { signal: AbortSignal.timeout(5_000) }))
    }

    // libp2p resolves the dial before the remote accepts; the registrar resets streams over the limit
    await waitFor(() => streams.slice(2).every(s => s.status !== 'open'), 'the streams over the limit to be reset', 5_000)
    assert.deepEqual(streams.slice(0, 2).map(s => s.status), ['open', 'open'])
  })
})

describe('a peer that stops reading, whoever sends to it', () => {
  it('an engine\'s own sends to a peer that stopped reading get it dropped, without waiting for a peer exchange period', async () => {
    // the discovery period is far away: only the chat stream itself can notice the stall
    const chats = new Map<string, ChatSender>()
    const sender = await node({
      sendQueueSize: 100,
      sendStallTimeout: 300,
      discoveryPeriod: 600_000,
      handlerFactory: (_coordinator, chat) => {
        chats.set(chat.remotePeer.toString(), chat)
        return { handleMessage: () => {}, sendMessage: (m) => { chat.send(m) }, to: () => chat.remoteEndpoint!, stop: () => {} }
      }
    })
    const stalled = await FakePeer.create()
    running.push(stalled)
    await stalled.hello(sender.getMultiaddrs())
    stalled.stream!.pause()
    await waitFor(() => chats.has(stalled.node.peerId.toString()), 'the engine handler for the fake peer')

    const dropped = nextEvent(sender.services.fabric, 'peer:closed', d => d.peerId.equals(stalled.node.peerId), 10_000)
    const chat = chats.get(stalled.node.peerId.toString())!
    let full = 0
    // the engine writes straight to its chat, as engines do, and backs off on a full queue
    for (let i = 0; i < 400 && chat.writable; i++) {
      try {
        chat.send(createMessage(Message.Type.CONSENSUS, new Uint8Array(16 * 1024)))
      } catch (err: any) {
        if (err.name !== 'SendQueueFullError' && err.name !== 'ChatClosedError') throw err
        if (err.name === 'SendQueueFullError') full++
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }

    assert.ok(full > 0, 'the queue never filled')
    assert.match((await dropped).reason, /^send queue stalled: \d+ frames unread for over 300ms$/)
  })
})
