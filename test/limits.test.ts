import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { createMessage, Message } from '../src/index.js'
import { FakePeer } from './helpers/fake-peer.js'
import { createNode, nextEvent, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { FabricPeerInit } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

const running: Array<Libp2p | FakePeer> = []
afterEach(async () => { await Promise.all(running.splice(0).map(async n => n.stop())) })

async function node (init: FabricPeerInit = {}): Promise<FabricNode> {
  const n = await createNode({ fabric: { touchPeriod: 0, ...init } })
  running.push(n)
  return n
}

describe('limits on what a peer can make us do', () => {
  it('a peer that never reads fills only its own queue: a broadcast still reaches 5 others, and the stalled peer is dropped with a reason', async () => {
    const sender = await node({ sendQueueSize: 200 })
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
      for (const g of good) assert.ok(result.sent.some(p => p.equals(g.peerId)), `message ${i} not queued for an honest peer`)
      if (i % 50 === 49) await new Promise(resolve => setTimeout(resolve, 1))
    }

    assert.ok((await overflow).queued >= 200)
    assert.match((await dropped).reason, /send queue full/)
    await waitFor(() => received.every(r => r.length === count), 'every honest peer to receive every message', 15_000)
    for (const r of received) assert.deepEqual(r, Array.from({ length: count }, (_, i) => i))
    assert.equal(sender.services.fabric.isEstablished(stalled.node.peerId), false)
    assert.equal(sender.services.fabric.getPeers().peers.length, 5)
  })
})
