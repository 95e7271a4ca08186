import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMessage, Message, PeerEndpoint, PeersMessage } from '../src/index.js'
import { FakePeer } from './helpers/fake-peer.js'
import { createNode, nextEvent, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { FabricPeerInit, TouchTick } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

/** Fast periods so a test network converges in seconds rather than Fabric's 5-6 s ticks */
const FAST: FabricPeerInit = { discoveryPeriod: 200, touchPeriod: 300, dialBackoffInitial: 300 }

const running: Array<Libp2p | FakePeer> = []

afterEach(async () => {
  await Promise.all(running.splice(0).map(async n => n.stop()))
})

async function network (count: number, init: (i: number, root?: string) => FabricPeerInit): Promise<FabricNode[]> {
  const root = await createNode({ fabric: init(0) })
  running.push(root)
  const rootAddr = root.getMultiaddrs()[0].toString()
  const rest = await Promise.all(Array.from({ length: count - 1 }, async (_, i) => createNode({ fabric: init(i + 1, rootAddr) })))
  running.push(...rest)
  return [root, ...rest]
}

function chats (n: FabricNode): Map<string, PeerEndpoint.Type> {
  return new Map(n.services.fabric.getPeers().peers.map(p => [p.ID!.name, p.type]))
}

async function deadAddress (): Promise<string> {
  // a port that was just free: nothing listens there
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => server.close(resolve))
  return `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`
}

describe('touch loop', () => {
  it('8 validators given only one root node reach a full mesh', async () => {
    const nodes = await network(8, (i, root) => ({ ...FAST, rootNodes: root == null ? [] : [root] }))
    await waitFor(() => nodes.every(n => chats(n).size === 7), 'a full mesh of 8 validators', 20_000)

    for (const n of nodes) {
      const others = nodes.filter(o => o !== n).map(o => o.peerId.toString()).sort()
      assert.deepEqual([...chats(n).keys()].sort(), others)
    }
  })

  it('with touchMaxNodes: 2 no tick dials more than 2, and the mesh still forms', async () => {
    const ticks: TouchTick[] = []
    const nodes = await network(7, (i, root) => ({ ...FAST, touchMaxNodes: 2, rootNodes: root == null ? [] : [root] }))
    for (const n of nodes) {
      n.services.fabric.addEventListener('touch', (evt) => { ticks.push(evt.detail) })
    }

    await waitFor(() => nodes.every(n => chats(n).size === 6), 'a full mesh of 7 validators', 30_000)

    const dials = ticks.map(t => t.dialed.length)
    assert.ok(Math.max(...dials) <= 2, `a tick dialed ${Math.max(...dials)}`)
    // the cap was binding: some ticks saw more missing nodes than they could dial
    assert.ok(ticks.some(t => t.missing > 2 && t.dialed.length === 2), 'the cap never came into play')
  })

  it('touchPeriod: 0 chats with the root node once at start and never redials', async () => {
    const rootKey = await generateKeyPair('Ed25519')
    const root = await createNode({ privateKey: rootKey })
    running.push(root)
    const rootAddr = root.getMultiaddrs()[0].toString()

    const lazy = await createNode({ fabric: { touchPeriod: 0, rootNodes: [rootAddr] } })
    const eager = await createNode({ fabric: { ...FAST, rootNodes: [rootAddr] } })
    running.push(lazy, eager)
    let lazyTicks = 0
    lazy.services.fabric.addEventListener('touch', () => { lazyTicks++ })
    await waitFor(() => lazy.services.fabric.isEstablished(root.peerId) && eager.services.fabric.isEstablished(root.peerId), 'both chats with the root')

    // count the lazy node's own dials from here on (the touch loop dials through chatWithPeer)
    let lazyDials = 0
    const chatWithPeer = lazy.services.fabric.chatWithPeer.bind(lazy.services.fabric)
    lazy.services.fabric.chatWithPeer = async (peer, options) => { lazyDials++; return chatWithPeer(peer, options) }
    const lazyOpened: boolean[] = []
    lazy.services.fabric.addEventListener('peer:established', ({ detail }) => { lazyOpened.push(detail.initiated) })

    // the root goes away and comes back at the same address with the same identity
    await root.stop()
    await waitFor(() => !lazy.services.fabric.isEstablished(root.peerId), 'the chat to close')
    const revived = await createNode({ privateKey: rootKey, listen: [rootAddr.split('/p2p/')[0]] })
    running.push(revived)

    // the control, with a touch loop, redials; the node without one does not
    // (the revived root may dial it, having heard of it from the control)
    await waitFor(() => eager.services.fabric.isEstablished(revived.peerId), 'the node with a touch loop to redial', 10_000)
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.equal(lazyDials, 0)
    assert.equal(lazyTicks, 0)
    assert.ok(lazyOpened.every(initiated => !initiated), 'the lazy node opened a chat')
  })

  it('non-validators end with at least minValidators validator chats and no chats with each other', async () => {
    const nodes = await network(7, (i, root) => ({ ...FAST, validator: i < 4, rootNodes: root == null ? [] : [root] }))
    const validators = nodes.slice(0, 4)
    const nvps = nodes.slice(4)

    await waitFor(() => validators.every(v => [...chats(v).values()].filter(t => t === PeerEndpoint.Type.VALIDATOR).length === 3) &&
      nvps.every(n => chats(n).size >= 2), 'validators in a mesh and every NVP with 2 validators', 20_000)
    // give discovery a few more periods to tempt non-validators into chatting with each other
    await new Promise(resolve => setTimeout(resolve, 1000))

    for (const n of nvps) {
      const types = [...chats(n).values()]
      // validators do not dial non-validators, so these are the NVP's own dials: minValidators, not the mesh
      assert.equal(types.length, 2, `an NVP has ${types.length} chats`)
      assert.ok(types.every(t => t === PeerEndpoint.Type.VALIDATOR), 'an NVP chats with another NVP')
    }
  })

  it('a dead address is retried with growing gaps and expires after expireAfter', async () => {
    const deadRoot = await deadAddress()
    const node = await createNode({ fabric: { rootNodes: [deadRoot], touchPeriod: 50, dialBackoffInitial: 100, expireAfter: 4_000, dialTimeout: 1_000 } })
    running.push(node)
    const dead = await deadAddress()
    const deadId = dead.split('/p2p/')[1]
    const attempts: number[] = []
    let expiredAt = 0
    const started = Date.now()

    node.services.fabric.addEventListener('touch', ({ detail }) => {
      if (detail.dialed.some(p => p.toString() === deadId)) attempts.push(Date.now())
      if (detail.expired.some(p => p.toString() === deadId)) expiredAt = Date.now()
    })
    node.services.fabric.discovery.addNode(dead, PeerEndpoint.Type.VALIDATOR)

    await waitFor(() => expiredAt > 0, 'the dead node to expire', 10_000)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i])

    assert.ok(attempts.length >= 5, `only ${attempts.length} attempts`)
    // backoff doubles from 100 ms with jitter 0.5-1.5x: the 4th gap (>= 400 ms) always exceeds the 1st (<= 150 ms + a tick)
    assert.ok(gaps[3] > gaps[0], `gaps ${gaps.join(', ')}`)
    assert.ok(gaps.at(-1)! > gaps[0], `gaps ${gaps.join(', ')}`)
    assert.ok(expiredAt - started >= 4_000, 'expired before expireAfter')
    assert.equal(node.services.fabric.discovery.findNode(dead), false)
    // a root node is configured, not learned: it is retried (backed off) but never expires
    assert.equal(node.services.fabric.discovery.findNode(deadRoot), true)
    assert.ok(node.services.fabric.discovery.get(deadRoot)!.failures >= 3)
  })
})

describe('peer exchange limits', () => {
  it('a DISC_PEERS with 100 000 endpoints is rejected and cannot grow the list', async () => {
    const target = await createNode({ fabric: { ...FAST } })
    const fake = await FakePeer.create()
    running.push(target, fake)
    await fake.hello(target.getMultiaddrs())
    const sizeBefore = target.services.fabric.discovery.size

    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.node.peerId))
    const huge = PeersMessage.encode({ peers: Array.from({ length: 100_000 }, () => ({ ID: { name: 'x' }, address: '', type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) })) })
    fake.send(createMessage(Message.Type.DISC_PEERS, huge))

    assert.match((await rejected).reason, /undecodable DISC_PEERS payload/)
    assert.equal(target.services.fabric.discovery.size, sizeBefore)
  })

  it('DISC_PEERS floods are throttled, one peer\'s gossip adds at most its count per period, and real dials stay within touchMaxNodes per tick and the gossip dial pace', async () => {
    // peerExchangeInterval = discoveryPeriod / 2 = 1 s; one peer's share of the list is 1/8 (4 000), of which a quarter (1 000) per GOSSIP_PERIOD
    const target = await createNode({ fabric: { discoveryPeriod: 2_000, touchPeriod: 100, touchMaxNodes: 5, maxDiscoveryEntries: 32_000, maxPeersPerMessage: 1_000, dialTimeout: 500 } })
    const fake = await FakePeer.create()
    running.push(target, fake)
    const fabric = target.services.fabric

    // count the dials the touch loop really makes, not what it reports
    const dialTimes: number[] = []
    const tickTimes: number[] = []
    const chatWithPeer = fabric.chatWithPeer.bind(fabric)
    fabric.chatWithPeer = async (peer, options) => { dialTimes.push(performance.now()); return chatWithPeer(peer, options) }
    fabric.addEventListener('touch', () => { tickTimes.push(performance.now()) })
    let added = 0
    fabric.discovery.addEventListener('peer', () => { added++ })
    await fake.hello(target.getMultiaddrs())
    added = 0

    const batch = async (): Promise<Uint8Array> => PeersMessage.encode({
      peers: await Promise.all(Array.from({ length: 1_000 }, async (_, i) => {
        const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
        return { ID: { name: id }, address: `/ip4/127.0.0.1/tcp/${1 + i}/p2p/${id}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }
      }))
    })
    const batches = await Promise.all([batch(), batch(), batch(), batch()])

    // a burst: the second message arrives within peerExchangeInterval and is ignored
    fake.send(createMessage(Message.Type.DISC_PEERS, batches[0]))
    fake.send(createMessage(Message.Type.DISC_PEERS, batches[1]))
    await waitFor(() => added >= 1_000, 'the first batch')
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(added, 1_000, 'the burst was not throttled')

    // spaced out, the rest is refused: the peer's count for this period is spent
    for (const b of batches.slice(2)) {
      await new Promise(resolve => setTimeout(resolve, 1_100))
      fake.send(createMessage(Message.Type.DISC_PEERS, b))
    }
    await new Promise(resolve => setTimeout(resolve, 1_500))

    assert.equal(fabric.discovery.gossipRate, 1_000)
    assert.equal(added, 1_000, 'nodes added by the peer\'s gossip in one period')
    assert.ok(fabric.discovery.learnedFromPeer(fake.node.peerId) <= 1_000)
    assert.ok(tickTimes.length >= 5)
    for (let i = 0; i + 1 < tickTimes.length; i++) {
      const inWindow = dialTimes.filter(t => t >= tickTimes[i] && t < tickTimes[i + 1]).length
      assert.ok(inWindow <= 5, `${inWindow} dials between tick ${i} and ${i + 1}`)
    }
    // every address is on 127.0.0.1: GOSSIP_HOST_DIAL_RATE (4) a second after a burst of GOSSIP_HOST_DIAL_BURST (16)
    const first = dialTimes[0]
    for (const t of dialTimes) {
      const inSecond = dialTimes.filter(u => u >= t && u < t + 1_000).length
      assert.ok(inSecond <= 20, `${inSecond} dials to one host within a second`)
    }
    const span = (dialTimes[dialTimes.length - 1] - first) / 1000
    assert.ok(dialTimes.length <= 16 + 4 * Math.ceil(span), `${dialTimes.length} dials to one host in ${span.toFixed(1)} s`)
    assert.ok(dialTimes.length >= 10, `the touch loop barely dialed (${dialTimes.length}, first at ${first})`)
    // the fake peer is still chatting: its gossip was refused, not the peer
    assert.equal(fabric.isEstablished(fake.node.peerId), true)
  })
})
