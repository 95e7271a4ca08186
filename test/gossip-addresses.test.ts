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
  })
})
