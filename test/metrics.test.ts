import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { MessageCounters, rejectionReason } from '../src/metrics.js'
import { CHAT_PROTOCOL, createMessage, fabricPeer, Message, PeerEndpoint } from '../src/index.js'
import { CliNode } from './helpers/cli.js'
import { frame } from './helpers/fake-peer.js'
import { createNode, createRawNode, nextEvent, stopAll, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { Libp2p } from '@libp2p/interface'

/** The value of one sample (`name{labels}`) in a Prometheus exposition, or undefined when absent */
function sample (text: string, name: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  return line == null ? undefined : Number(line.slice(name.length + 1))
}

describe('metrics through libp2p\'s metrics component', () => {
  const registry = new Registry()
  let a: FabricNode
  let b: FabricNode
  const others: Libp2p[] = []
  const scrape = async (): Promise<string> => registry.metrics()

  before(async () => {
    a = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }),
      // a dead root node, so the touch loop has a dial that fails
      services: { fabric: fabricPeer({ touchPeriod: 500, rootNodes: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKBrrXjvnzHUmwQMCz6EuYjpegj8zYPJPSawk3taMmZ4k'] }) }
    })
    b = await createNode()
  })

  after(async () => {
    await stopAll([a, b, ...others])
  })

  it('chats by role, discovery size and messages by type are read at scrape time', async () => {
    const before = await scrape()
    assert.equal(sample(before, 'libp2p_fabric_chats{role="validator"}'), 0)
    assert.equal(sample(before, 'libp2p_fabric_discovery_nodes'), 1)

    const established = nextEvent(a.services.fabric, 'peer:established')
    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    await established

    const received = new Promise<void>(resolve => {
      let count = 0
      a.services.fabric.addEventListener('message', (evt) => {
        if (evt.detail.message.type === Message.Type.CONSENSUS && ++count === 100) {
          resolve()
        }
      })
    })

    for (let i = 0; i < 100; i++) {
      b.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(i)))
    }

    await received
    const after = await scrape()
    assert.equal(sample(after, 'libp2p_fabric_chats{role="validator"}'), 1)
    assert.equal(sample(after, 'libp2p_fabric_chats{role="non_validator"}'), 0)
    assert.equal(sample(after, 'libp2p_fabric_discovery_nodes'), 2)
    assert.equal(sample(after, 'libp2p_fabric_messages_received_total{type="DISC_HELLO"}'), 1)
    assert.equal(sample(after, 'libp2p_fabric_messages_sent_total{type="DISC_HELLO"}'), 1)
    assert.equal(sample(after, 'libp2p_fabric_messages_received_total{type="CONSENSUS"}'), 100)

    // counters carry totals across scrapes (each scrape adds only what is new)
    assert.equal(sample(await scrape(), 'libp2p_fabric_messages_received_total{type="CONSENSUS"}'), 100)

    // sent by type, for a small message and for a large one (encoded as a list, uncopied)
    const atB = new Promise<void>(resolve => {
      let count = 0
      b.services.fabric.addEventListener('message', (evt) => {
        if (evt.detail.message.type === Message.Type.SYNC_BLOCK_ADDED && ++count === 2) {
          resolve()
        }
      })
    })
    a.services.fabric.unicast(createMessage(Message.Type.SYNC_BLOCK_ADDED, Uint8Array.of(1)), b.peerId)
    a.services.fabric.unicast(createMessage(Message.Type.SYNC_BLOCK_ADDED, new Uint8Array(256 * 1024)), b.peerId)
    await atB
    assert.equal(sample(await scrape(), 'libp2p_fabric_messages_sent_total{type="SYNC_BLOCK_ADDED"}'), 2)

    const closed = nextEvent(a.services.fabric, 'peer:closed')
    await b.stop()
    await closed
    assert.equal(sample(await scrape(), 'libp2p_fabric_chats{role="validator"}'), 0)
  })

  it('touch dials and their failures are counted', async () => {
    await waitFor(async () => (sample(await scrape(), 'libp2p_fabric_touch_dial_failures_total') ?? 0) >= 1, 'a failed touch dial to the dead root node')
    const text = await scrape()
    assert.ok((sample(text, 'libp2p_fabric_touch_dials_total') ?? 0) >= (sample(text, 'libp2p_fabric_touch_dial_failures_total') ?? 0))
  })

  it('rejected peers are counted by reason', async () => {
    const raw = await createRawNode()
    others.push(raw)
    const rejected = nextEvent(a.services.fabric, 'peer:rejected', d => d.peerId.equals(raw.peerId))
    const stream = await raw.dialProtocol(a.getMultiaddrs(), CHAT_PROTOCOL)
    stream.send(frame(createMessage(Message.Type.DISC_GET_PEERS)))
    await rejected

    assert.equal(sample(await scrape(), 'libp2p_fabric_rejected_peers_total{reason="hello"}'), 1)
  })

  it('rejection reasons map to a small set of labels', () => {
    assert.equal(rejectionReason('DISC_PEERS before DISC_HELLO'), 'hello')
    assert.equal(rejectionReason('no DISC_HELLO accepted within 10000ms'), 'hello')
    assert.equal(rejectionReason('hello claims PeerId 12D3KooWx but the connection is from 12D3KooWy'), 'hello')
    assert.equal(rejectionReason('Undecodable frame: Frame of 5000000 bytes exceeds the limit of 4194304'), 'frame')
    assert.equal(rejectionReason('CONSENSUS with an invalid signature'), 'signature')
    assert.equal(rejectionReason('unsigned CONSENSUS'), 'signature')
    assert.equal(rejectionReason('unsigned DISC_HELLO'), 'signature')
    assert.equal(rejectionReason('DISC_HELLO with an invalid signature'), 'signature')
    assert.equal(rejectionReason('DISC_HELLO without a timestamp'), 'signature')
    assert.equal(rejectionReason('DISC_HELLO older than maxMessageAge (90000ms)'), 'signature')
    // the peer's own text after our prefix does not change the label
    assert.equal(rejectionReason('hello claims PeerId bad-signature but the connection is from 12D3KooWy'), 'hello')
    assert.equal(rejectionReason('not a member of this network'), 'membership')
    assert.equal(rejectionReason('undecodable DISC_PEERS payload: too many peers'), 'peers')
    assert.equal(rejectionReason('policy'), 'policy')
    assert.equal(rejectionReason('something new'), 'other')
  })
})

describe('message counters', () => {
  it('count received messages by every Message.Type name and nothing else', () => {
    const counters = new MessageCounters()

    assert.deepEqual(Object.keys(counters.received).sort(), Object.keys(Message.Type).filter(name => name !== 'codec').sort())
    assert.ok(Object.values(counters.received).every(count => count === 0))
    assert.equal('codec' in counters.received, false)
  })
})

describe('fabric-peer node start --metrics', () => {
  let dir: string
  let node: CliNode | undefined
  let peer: FabricNode | undefined

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'fabric-metrics-')) })
  after(async () => {
    await node?.stop('SIGKILL')
    await stopAll([peer])
    await rm(dir, { recursive: true, force: true })
  })

  it('serves Prometheus metrics, and the chat count goes from 0 to 1 when a peer joins', async () => {
    node = new CliNode(['--data', join(dir, 'vp0'), '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', 'off', '--metrics', '127.0.0.1:0'])
    const { address, metrics } = await node.ready()
    assert.match(metrics ?? '', /^http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics$/)
    const scrape = async (): Promise<string> => {
      const res = await fetch(metrics as string, { signal: AbortSignal.timeout(5_000) })
      assert.equal(res.status, 200)
      return res.text()
    }

    const before = await scrape()
    assert.equal(sample(before, 'libp2p_fabric_chats{role="validator"}'), 0)
    assert.match(before, /^# TYPE libp2p_fabric_messages_received_total counter$/m)

    peer = await createNode({ fabric: { validator: true } })
    await peer.services.fabric.chatWithPeer(address)
    await waitFor(async () => sample(await scrape(), 'libp2p_fabric_chats{role="validator"}') === 1, 'the chat count to reach 1')

    const after = await scrape()
    assert.equal(sample(after, 'libp2p_fabric_messages_received_total{type="DISC_HELLO"}'), 1)
    assert.equal(sample(after, 'libp2p_fabric_chats{role="non_validator"}'), 0)
    assert.equal(peer.services.fabric.getPeers().peers[0]?.type, PeerEndpoint.Type.VALIDATOR)
  })
})
