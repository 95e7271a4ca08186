import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createMessage, Message, PeerEndpoint, PeersMessage } from '../src/index.js'
import { peerGivenAddressProblem } from '../src/addresses.js'
import { FakePeer } from './helpers/fake-peer.js'
import { stoppedAfterEach, waitFor } from './helpers/nodes.js'

const { track, node } = stoppedAfterEach()

async function someId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('addresses a peer gives us', () => {
  it('gossip naming a Unix socket, an in-memory address, an unspecified host or the node\'s own address is not taken; a TCP address is', async () => {
    const victim = await node({ discoveryPeriod: 60_000 })
    const own = victim.getMultiaddrs()[0]
    const port = own.getComponents()[1].value
    const fake = track(await FakePeer.create())
    await fake.hello(victim.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR)
    await waitFor(() => victim.services.fabric.isEstablished(fake.node.peerId), 'the chat')

    const ids = await Promise.all(Array.from({ length: 6 }, someId))
    const offered = [
      `/unix/${encodeURIComponent('/tmp/fabric-victim.sock')}/p2p/${ids[0]}`,
      `/memory/victim/p2p/${ids[1]}`,
      `/ip4/0.0.0.0/tcp/4001/p2p/${ids[2]}`,
      // another local service on the victim's own address and port
      `/ip4/127.0.0.1/tcp/${port}/p2p/${ids[3]}`,
      `/ip4/127.0.0.1/tcp/9/udp/5/p2p/${ids[4]}`,
      `/ip4/127.0.0.1/tcp/4001/p2p/${ids[5]}`
    ]
    fake.send(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({
      peers: offered.map((address, i) => ({ ID: { name: ids[i] }, address, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }))
    })))

    await waitFor(() => victim.services.fabric.discovery.size >= 2, 'the TCP address in the list')
    // whatever else was going to be added has been by now (one message, handled in order)
    await new Promise(resolve => setTimeout(resolve, 200))
    const listed = [...victim.services.fabric.discovery.values()].map(n => n.peerId.toString()).sort()
    assert.deepEqual(listed, [fake.node.peerId.toString(), ids[5]].sort())
  })

  it('a peer whose hello names another node\'s port is dialed there once, not again and again', async () => {
    // a non-validator wants validators: it redials one whose chat ended
    const victim = await node({ validator: false, touchPeriod: 200, dialBackoffInitial: 200, discoveryPeriod: 60_000 })
    const other = track(await FakePeer.create())
    const liar = track(await FakePeer.create())
    const dials: number[] = []
    const fabric = victim.services.fabric
    const chatWithPeer = fabric.chatWithPeer.bind(fabric)
    fabric.chatWithPeer = async (peer, options) => {
      if (String(Array.isArray(peer) ? peer[0] : peer).includes(liar.node.peerId.toString())) dials.push(Date.now())
      return chatWithPeer(peer, options)
    }

    // its hello says it listens where `other` does
    const port = other.node.getMultiaddrs()[0].getComponents()[1].value
    await liar.hello(victim.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR, undefined, `/ip4/127.0.0.1/tcp/${port}/p2p/${liar.node.peerId}`)
    await waitFor(() => fabric.isEstablished(liar.node.peerId), 'the chat')
    await liar.node.hangUp(victim.peerId)
    await waitFor(() => !fabric.isEstablished(liar.node.peerId), 'the chat to end')

    await waitFor(() => dials.length >= 1, 'a redial')
    // with a 200 ms backoff doubling, 3 s would see 4 or 5 more
    await new Promise(resolve => setTimeout(resolve, 3_000))
    assert.equal(dials.length, 1, `${dials.length} dials to the other node's port`)
    assert.equal(fabric.discovery.findNode(liar.node.peerId), false)
  })

  it('the rule, as a function', () => {
    const id = '12D3KooWHeoP9W5Cyof7nq2FgC4WqWcLsxse4wA3ZgaYhXXJVRsA'
    assert.equal(peerGivenAddressProblem(multiaddr(`/ip4/10.0.0.1/tcp/7051/p2p/${id}`)), undefined)
    assert.equal(peerGivenAddressProblem(multiaddr(`/dns4/vp0/tcp/7051/p2p/${id}`)), undefined)
    assert.equal(peerGivenAddressProblem(multiaddr(`/ip6/::1/tcp/7051/p2p/${id}`)), undefined)
    assert.match(peerGivenAddressProblem(multiaddr(`/ip6/::/tcp/7051/p2p/${id}`)) ?? '', /names no host/)
    assert.match(peerGivenAddressProblem(multiaddr(`/ip4/10.0.0.1/tcp/7051/ws/p2p/${id}`)) ?? '', /not an address this node dials/)
    // with the node's transports to ask, what they dial is taken
    assert.equal(peerGivenAddressProblem(multiaddr(`/ip4/10.0.0.1/tcp/7051/ws/p2p/${id}`), [], () => true), undefined)
    assert.match(peerGivenAddressProblem(multiaddr(`/unix/${encodeURIComponent('/tmp/x')}/p2p/${id}`), [], () => true) ?? '', /not an address this node dials/)
    assert.match(peerGivenAddressProblem(multiaddr(`/ip4/10.0.0.1/tcp/7051/p2p/${id}`), [multiaddr('/ip4/10.0.0.1/tcp/7051')]) ?? '', /own addresses/)
    // our own address written another way is still ours
    const own = [multiaddr('/ip4/127.0.0.1/tcp/7051')]
    for (const alias of ['/ip6/::ffff:127.0.0.1', '/ip6/::ffff:7f00:1', '/ip4/127.0.0.2', '/ip6/::1', '/dns4/localhost', '/dns/LocalHost']) {
      assert.match(peerGivenAddressProblem(multiaddr(`${alias}/tcp/7051/p2p/${id}`), own) ?? '', /own addresses/, alias)
    }
    assert.equal(peerGivenAddressProblem(multiaddr(`/ip4/127.0.0.1/tcp/7052/p2p/${id}`), own), undefined)
    assert.match(peerGivenAddressProblem(multiaddr(`/ip6/::ffff:0.0.0.0/tcp/7051/p2p/${id}`)) ?? '', /names no host/)
  })
})

describe('a peer flooding DISC_PEERS', () => {
  it('adds at most its count per period (a quarter of its 1/8 share): nodes another peer gossips later still enter', async () => {
    const maxDiscoveryEntries = 800
    // a share of 100 nodes, of which 25 a minute
    const share = Math.floor(Math.max(64, maxDiscoveryEntries / 8) / 4)
    // a short discovery period: gossip is taken from a peer at most every half of it
    const victim = await node({ maxDiscoveryEntries, discoveryPeriod: 200 })
    const flooder = track(await FakePeer.create())
    const honest = track(await FakePeer.create())
    await flooder.hello(victim.getMultiaddrs(), PeerEndpoint.Type.NON_VALIDATOR)
    await honest.hello(victim.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR)
    await waitFor(() => victim.services.fabric.isEstablished(honest.node.peerId), 'both chats')

    const gossip = async (count: number, port: number): Promise<Uint8Array> => PeersMessage.encode({
      peers: await Promise.all(Array.from({ length: count }, async (_, i) => {
        const id = await someId()
        return { ID: { name: id }, address: `/ip4/127.0.0.${1 + (i % 200)}/tcp/${port + i}/p2p/${id}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }
      }))
    })

    // the flood: 4 messages of 400 new nodes, each after the victim takes gossip from it again
    for (let round = 0; round < 4; round++) {
      flooder.send(createMessage(Message.Type.DISC_PEERS, await gossip(400, 20_000 + round * 400)))
      await new Promise(resolve => setTimeout(resolve, 150))
    }

    // counted by the ports each side used, so the count does not depend on how the list keeps its books
    const listed = (from: number, to: number): number => [...victim.services.fabric.discovery.values()]
      .filter(n => n.addresses.some(a => { const port = Number(a.getComponents()[1]?.value); return port >= from && port < to })).length
    await waitFor(() => listed(20_000, 21_600) >= share, 'the flooder at its share')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(victim.services.fabric.discovery.gossipRate, 25)
    assert.equal(listed(20_000, 21_600), share, 'the flooder has exactly its count for the period, no more')
    assert.equal(victim.services.fabric.discovery.learnedFromPeer(flooder.node.peerId), share)

    honest.send(createMessage(Message.Type.DISC_PEERS, await gossip(20, 40_000)))
    await waitFor(() => listed(40_000, 40_020) === 20, 'the honest peer\'s 20 nodes in the list', 3_000)
    assert.equal(victim.services.fabric.discovery.learnedFromPeer(honest.node.peerId), 20)
    assert.ok(victim.services.fabric.discovery.size <= maxDiscoveryEntries)
  })
})
