import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { InvalidParametersError } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Discovery } from '../src/discovery/discovery.js'
import { DISCOVERY_TAG, PeerEndpoint } from '../src/index.js'
import { createNode, nextEvent, stopAll } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { PeerId, PeerStore } from '@libp2p/interface'

async function randomPeerId (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

async function addrOf (port = 7051, peerId?: PeerId): Promise<string> {
  return `/ip4/127.0.0.1/tcp/${port}/p2p/${(peerId ?? await randomPeerId()).toString()}`
}

/** Discovery on its own: the peer store is a recorder, since these tests isolate the list's logic */
async function discovery (maxEntries = 100): Promise<{ d: Discovery, self: PeerId, merges: Array<{ peerId: string, data: any }> }> {
  const self = await randomPeerId()
  const merges: Array<{ peerId: string, data: any }> = []
  const peerStore = { merge: async (peerId: PeerId, data: any) => { merges.push({ peerId: peerId.toString(), data }) } } as unknown as PeerStore
  const d = new Discovery({ peerId: self, peerStore }, { maxEntries, log: defaultLogger().forComponent('test') })
  return { d, self, merges }
}

describe('Discovery: Fabric v0.6 discovery tests, rewritten', () => {
  it('an empty list has no nodes, and a random pick from it is empty rather than a hang', async () => {
    const { d } = await discovery()
    assert.deepEqual(d.getAllNodes(), [])
    assert.deepEqual(d.getRandomNodes(3), [])
  })

  it('a node that was added is found', async () => {
    const { d } = await discovery()
    const a = await addrOf()
    assert.equal(d.findNode(a), false)
    assert.equal(d.addNode(a), true)
    assert.equal(d.findNode(a), true)
    assert.deepEqual(d.getAllNodes(), [a])
  })

  it('a removed node is not in getAllNodes; removing an unknown node returns false', async () => {
    const { d } = await discovery()
    const [a, b] = [await addrOf(1), await addrOf(2)]
    d.addNode(a)
    d.addNode(b)

    assert.equal(d.removeNode(a), true)
    assert.deepEqual(d.getAllNodes(), [b])
    assert.equal(d.findNode(a), false)
    assert.equal(d.removeNode(a), false)
    assert.equal(d.removeNode(await addrOf(3)), false)
  })

  it('getAllNodes returns every node once, however often it was added', async () => {
    const { d } = await discovery()
    const addrs = await Promise.all([1, 2, 3, 4].map(async p => addrOf(p)))
    for (const a of [...addrs, ...addrs]) d.addNode(a)
    assert.deepEqual(d.getAllNodes().sort(), [...addrs].sort())
  })
})

describe('Discovery: what v0.6 got wrong', () => {
  it('getRandomNodes(n) returns min(n, live) distinct live nodes and never a removed one', async () => {
    const { d } = await discovery()
    const addrs = await Promise.all([1, 2, 3, 4, 5, 6].map(async p => addrOf(p)))
    for (const a of addrs) d.addNode(a)
    d.removeNode(addrs[0])
    d.removeNode(addrs[3])
    const live = new Set(addrs.filter((_, i) => i !== 0 && i !== 3))

    for (let n = 0; n <= 8; n++) {
      const picked = d.getRandomNodes(n)
      assert.equal(picked.length, Math.min(n, live.size))
      assert.equal(new Set(picked).size, picked.length, 'distinct')
      assert.ok(picked.every(a => live.has(a)), 'only live nodes')
    }
  })

  it('getRandomNodes picks uniformly', async () => {
    const { d } = await discovery()
    const addrs = await Promise.all([1, 2, 3, 4, 5].map(async p => addrOf(p)))
    for (const a of addrs) d.addNode(a)
    const counts = new Map(addrs.map(a => [a, 0]))
    const draws = 20_000

    for (let i = 0; i < draws; i++) {
      const [pick] = d.getRandomNodes(1)
      counts.set(pick, counts.get(pick)! + 1)
    }

    // expected 4000 each, standard deviation ~57: 6 sigma either way
    for (const [a, count] of counts) {
      assert.ok(Math.abs(count - draws / 5) < 350, `${a} picked ${count} times`)
    }
  })

  it('an invalid address is a typed error and leaves the list unchanged', async () => {
    const { d } = await discovery()
    d.addNode(await addrOf(1))
    const before = d.getAllNodes()

    assert.throws(() => d.addNode('/ip4/127.0.0.1/tcp/7051'), InvalidParametersError)
    assert.throws(() => d.addNode('not a multiaddr'), InvalidParametersError)
    assert.throws(() => d.addNode('/ip4/127.0.0.1/tcp/1/p2p/notapeerid'), InvalidParametersError)
    assert.deepEqual(d.getAllNodes(), before)
  })

  it('our own PeerId is never added', async () => {
    const { d, self } = await discovery()
    assert.equal(d.addNode(await addrOf(1, self)), false)
    assert.equal(d.size, 0)
  })

  it('the list never grows past maxEntries', async () => {
    const { d } = await discovery(10)
    let accepted = 0
    for (let i = 0; i < 25; i++) {
      if (d.addNode(await addrOf(i + 1))) accepted++
    }
    assert.equal(accepted, 10)
    assert.equal(d.size, 10)
  })

  it('gossip adds no address to a node that confirmed its own, and at most 8 to a gossip-only node', async () => {
    const { d } = await discovery()
    const [id, other, source] = [await randomPeerId(), await randomPeerId(), await randomPeerId()]
    const own = await addrOf(7051, id)
    d.addEndpoint({ ID: { name: id.toString() }, address: own, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, true)

    for (let port = 1; port <= 50; port++) {
      d.addEndpoint({ ID: { name: id.toString() }, address: await addrOf(port, id), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, false, source)
    }

    assert.deepEqual(d.get(id)!.addresses.map(a => a.toString()), [own], 'gossip cannot redirect a node that confirmed its address')

    for (let port = 1; port <= 50; port++) {
      d.addEndpoint({ ID: { name: other.toString() }, address: await addrOf(port, other), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, false, source)
    }
    assert.equal(d.get(other)!.addresses.length, 8)
  })

  it('another peer\'s gossip may give a gossip-only node a new address (it moved): a failed dial there is charged to that peer, and a peer whose gossip cost it its share gives none', async () => {
    const { d } = await discovery(512)
    const [node, source, mover, spent] = [await randomPeerId(), await randomPeerId(), await randomPeerId(), await randomPeerId()]
    const gossip = async (port: number, from: PeerId): Promise<boolean> => d.addEndpoint({ ID: { name: node.toString() }, address: await addrOf(port, node), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, false, from)
    await gossip(1, source)
    d.dialFailed(node, Object.assign(new Error('timed out'), { name: 'TimeoutError' }), d.get(node)!.addresses[0])
    assert.ok(d.get(node)!.nextDialAt > Date.now())

    // it moved: another peer names its new address, which is dialed next
    await gossip(2, mover)
    assert.equal(d.get(node)!.nextDialAt, 0, 'a new address is worth a dial now')
    const newest = d.get(node)!.addresses.at(-1)!
    assert.ok(newest.toString().includes('/tcp/2/'))

    // another peer answers there: the peer that gave the address pays, the address goes, the node stays
    d.dialFailed(node, Object.assign(new Error('Payload identity key X does not match expected remote identity key Y'), { name: 'EncryptionFailedError' }), newest)
    assert.equal(d.gossipPenalty(mover), 8)
    assert.equal(d.gossipPenalty(source), 2)
    assert.ok(d.findNode(node))
    assert.equal(d.get(node)!.addresses.length, 1)

    // a peer whose bogus gossip used up its share gives no address
    for (let i = 0; i < 8; i++) {
      const id = await randomPeerId()
      d.addEndpoint({ ID: { name: id.toString() }, address: await addrOf(100 + i, id), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, false, spent)
      d.dialFailed(id, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), d.get(id)!.addresses[0])
    }
    assert.equal(d.gossipAllowance(spent), 0)
    await gossip(3, spent)
    assert.ok(!d.get(node)!.addresses.some(a => a.toString().includes('/tcp/3/')))
  })

  it('endpoints from peers are validated: the address must name the endpoint\'s PeerId and the role must be known', async () => {
    const { d } = await discovery()
    const [id, other] = [await randomPeerId(), await randomPeerId()]
    const endpoint = (address: string, type = PeerEndpoint.Type.VALIDATOR): PeerEndpoint => ({ ID: { name: id.toString() }, address, type, pkiID: new Uint8Array(0) })

    assert.equal(d.addEndpoint(endpoint(await addrOf(1, other))), false)
    assert.equal(d.addEndpoint(endpoint('/ip4/127.0.0.1/tcp/1')), false)
    assert.equal(d.addEndpoint(endpoint('')), false)
    assert.equal(d.addEndpoint(endpoint('garbage')), false)
    assert.equal(d.addEndpoint(endpoint(await addrOf(1, id), PeerEndpoint.Type.UNDEFINED)), false)
    assert.equal(d.size, 0)
    assert.equal(d.addEndpoint(endpoint(await addrOf(1, id))), true)
    assert.equal(d.get(id)?.type, PeerEndpoint.Type.VALIDATOR)
  })
})

describe('Discovery: what a node says of itself outranks gossip', () => {
  const endpoint = (id: PeerId, address: string, type = PeerEndpoint.Type.VALIDATOR): PeerEndpoint => ({ ID: { name: id.toString() }, address, type, pkiID: new Uint8Array(0) })

  it('gossip cannot change a role the node confirmed in its hello, but may fill in an unknown one', async () => {
    const { d } = await discovery()
    const [v, u] = [await randomPeerId(), await randomPeerId()]
    d.addEndpoint(endpoint(v, await addrOf(1, v)), true)
    d.addEndpoint(endpoint(v, await addrOf(1, v), PeerEndpoint.Type.NON_VALIDATOR))
    assert.equal(d.get(v)?.type, PeerEndpoint.Type.VALIDATOR)

    // a node added without a role (a root node, the user, libp2p) keeps it unknown until its hello: what gossip says is a hint
    d.addNode(await addrOf(2, u))
    d.addEndpoint(endpoint(u, await addrOf(2, u), PeerEndpoint.Type.NON_VALIDATOR))
    assert.equal(d.get(u)?.type, PeerEndpoint.Type.UNDEFINED)
  })

  it('gossip cannot evict a root node\'s configured address, or add to it', async () => {
    const { d } = await discovery()
    const id = await randomPeerId()
    const configured = await addrOf(7051, id)
    d.addNode(configured, PeerEndpoint.Type.UNDEFINED, true)

    for (let port = 1; port <= 20; port++) {
      d.addEndpoint(endpoint(id, await addrOf(port, id)))
    }

    assert.deepEqual(d.get(id)?.addresses.map(a => a.toString()), [configured])
  })

  it('a full list still admits root nodes and peers that said hello, in place of gossip; gossip cannot evict', async () => {
    const { d } = await discovery(3)
    const gossiped = await Promise.all([1, 2, 3].map(async () => randomPeerId()))
    for (const [i, id] of gossiped.entries()) d.addEndpoint(endpoint(id, await addrOf(i + 1, id)))
    assert.equal(d.size, 3)

    const late = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(late, await addrOf(9, late))), false, 'gossip evicted gossip')

    const hello = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(hello, await addrOf(10, hello)), true), true)
    const root = await randomPeerId()
    assert.equal(d.addNode(await addrOf(11, root), PeerEndpoint.Type.UNDEFINED, true), true)
    assert.equal(d.size, 3)
    assert.ok(d.findNode(hello) && d.findNode(root))

    // now only one gossip node is left to give way; then nothing can
    const another = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(another, await addrOf(12, another)), true), true)
    const oneMore = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(oneMore, await addrOf(13, oneMore)), true), false)
  })

  it('findNode and removeNode take a bare PeerId string too', async () => {
    const { d } = await discovery()
    const id = await randomPeerId()
    d.addNode(await addrOf(1, id))
    assert.equal(d.findNode(id.toString()), true)
    assert.equal(d.removeNode(id.toString()), true)
    assert.equal(d.findNode(id), false)
  })
})

describe('Discovery in a libp2p node', () => {
  const nodes: FabricNode[] = []
  after(async () => { await stopAll(nodes) })

  it('root nodes come from an array or a comma-separated string, skip ourselves, and are announced to libp2p as discovered peers', async () => {
    const [r1, r2] = [await addrOf(1), await addrOf(2)]
    const privateKey = await generateKeyPair('Ed25519')
    const own = await addrOf(3, peerIdFromPrivateKey(privateKey))

    const node = await createNode({ privateKey, fabric: { rootNodes: `${r1}, ${r2},${own}`, touchPeriod: 0 } })
    nodes.push(node)
    assert.deepEqual(node.services.fabric.discovery.getAllNodes().sort(), [r1, r2].sort())

    const arrayNode = await createNode({ fabric: { rootNodes: [r1], touchPeriod: 0 } })
    nodes.push(arrayNode)
    const root = arrayNode.services.fabric.discovery.get(r1.split('/p2p/')[1])!
    assert.equal(root.root, true)

    // as a PeerDiscovery, libp2p put the root node's address in its peer store
    await arrayNode.services.fabric.discovery.flush()
    const peer = await arrayNode.peerStore.get(root.peerId)
    assert.deepEqual(peer.addresses.map(a => a.multiaddr.toString()), ['/ip4/127.0.0.1/tcp/1'])
  })

  it('a bad root node is a typed error at construction', async () => {
    await assert.rejects(createNode({ fabric: { rootNodes: ['/ip4/127.0.0.1/tcp/1'] } }), InvalidParametersError)
  })

  it('nodes are tagged in the peer store so the connection pruner keeps them, and untagged when removed', async () => {
    const node = await createNode({ fabric: { touchPeriod: 0 } })
    nodes.push(node)
    const id = await randomPeerId()
    const discovered = nextEvent(node, 'peer:discovery', d => d.id.equals(id))

    node.services.fabric.discovery.addNode(await addrOf(9, id), PeerEndpoint.Type.VALIDATOR)
    await discovered
    await node.services.fabric.discovery.flush()
    assert.equal((await node.peerStore.get(id)).tags.get(DISCOVERY_TAG)?.value, 100)

    node.services.fabric.discovery.removeNode(id)
    await node.services.fabric.discovery.flush()
    assert.equal((await node.peerStore.get(id)).tags.has(DISCOVERY_TAG), false)
  })
})

describe('Discovery: backoff and new addresses', () => {
  it('a node that was failing is due for a dial again when a new address for it is learned', async () => {
    const { d } = await discovery()
    const id = await randomPeerId()
    d.addNode(await addrOf(1, id), PeerEndpoint.Type.VALIDATOR)
    const node = d.get(id)!
    for (let i = 0; i < 4; i++) d.dialFailed(id)

    d.addEndpoint({ ID: { name: id.toString() }, address: await addrOf(1, id), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) })
    assert.ok(node.nextDialAt > Date.now(), 'a known address does not reset the backoff')

    // gossip naming another address does not either: it would let any peer end any node's backoff
    d.addEndpoint({ ID: { name: id.toString() }, address: await addrOf(3, id), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }, false, await randomPeerId())
    assert.ok(node.nextDialAt > Date.now(), 'gossip does not reset the backoff')

    // the user (or the node's own hello) naming a new one does
    d.addNode(await addrOf(2, id), PeerEndpoint.Type.VALIDATOR)
    assert.equal(node.nextDialAt, 0)
  })
})

describe('Discovery: what gossip costs its source', () => {
  const endpoint = (id: PeerId, address: string): any => ({ ID: { name: id.toString() }, address, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) })

  it('a failed dial of a gossip-only node costs the peer that named it, once an address: a bogus one 8, another failure 2; another peer answering drops it; at its share its other nodes go', async () => {
    const { d } = await discovery(512)
    const source = await randomPeerId()
    const ids = await Promise.all(Array.from({ length: 16 }, randomPeerId))
    for (const [i, id] of ids.entries()) assert.equal(d.addEndpoint(endpoint(id, await addrOf(1000 + i, id)), false, source), true)
    // a share of 64, of which 16 a period
    assert.equal(d.learnedFromPeer(source), 16)
    assert.equal(d.get(ids[0])?.learnedFrom, source.toString())

    // a timeout: 2, once per node
    d.dialFailed(ids[0], Object.assign(new Error('dial timed out'), { name: 'TimeoutError' }))
    d.dialFailed(ids[0], Object.assign(new Error('dial timed out'), { name: 'TimeoutError' }))
    assert.equal(d.gossipPenalty(source), 2)
    assert.ok(d.findNode(ids[0]), 'an unlucky node stays, on backoff')

    // nothing listening: 8, once; the node stays on backoff (it may be restarting)
    d.dialFailed(ids[1], Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1001'), { code: 'ECONNREFUSED' }))
    d.dialFailed(ids[1], Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1001'), { code: 'ECONNREFUSED' }))
    assert.equal(d.gossipPenalty(source), 10)
    assert.ok(d.findNode(ids[1]))

    // another peer answered: 8 (an AggregateError of such is too), and the node goes
    d.dialFailed(ids[2], new AggregateError([Object.assign(new Error('Payload identity key X does not match expected remote identity key Y'), { name: 'EncryptionFailedError' })]))
    assert.equal(d.gossipPenalty(source), 18)
    assert.equal(d.findNode(ids[2]), false)
    assert.equal(d.learnedFromPeer(source), 15)
    // and naming it again is not taken
    assert.equal(d.addEndpoint(endpoint(ids[2], await addrOf(1002, ids[2])), false, await randomPeerId()), false)

    // its share is 64: six more bogus nodes reach it, and the rest of its nodes go
    for (const id of ids.slice(3, 9)) d.dialFailed(id, Object.assign(new Error('could not negotiate'), { name: 'UnsupportedProtocolError' }))
    assert.equal(d.gossipAllowance(source), 0)
    assert.equal(d.learnedFromPeer(source), 0)
    assert.equal([...d.values()].filter(n => n.learnedFrom != null).length, 0)
    // and its gossip is refused
    const late = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(late, await addrOf(3000, late)), false, source), false)
  })

  it('a node confirmed by its own hello no longer counts against the peer that named it, and its failures cost nobody', async () => {
    const { d } = await discovery()
    const source = await randomPeerId()
    const id = await randomPeerId()
    d.addEndpoint(endpoint(id, await addrOf(1, id)), false, source)
    d.addEndpoint(endpoint(id, await addrOf(1, id)), true)
    assert.equal(d.learnedFromPeer(source), 0)
    d.dialFailed(id, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    assert.equal(d.gossipPenalty(source), 0)
    assert.ok(d.findNode(id))
  })

  it('one source adds at most its count per period, another source still adds', async () => {
    const { d } = await discovery(10_000)
    assert.equal(d.gossipRate, 312)
    const [a, b] = await Promise.all([randomPeerId(), randomPeerId()])
    let added = 0
    for (let i = 0; i < 400; i++) {
      const id = await randomPeerId()
      if (d.addEndpoint(endpoint(id, await addrOf(1 + i, id)), false, a)) added++
    }
    assert.equal(added, 312)
    const other = await randomPeerId()
    assert.equal(d.addEndpoint(endpoint(other, await addrOf(1, other)), false, b), true)
  })
})

describe('DialPacer', () => {
  it('allows a burst of `rate`, then `rate` a second, and `hostRate` to one host', async () => {
    const { DialPacer } = await import('../src/touch/dial-pacer.js')
    const { multiaddr } = await import('@multiformats/multiaddr')
    const pacer = new DialPacer(10, 4)
    const t0 = 1_000_000
    const host = (h: string): any => multiaddr(`/ip4/${h}/tcp/1`)
    let one = 0
    for (let i = 0; i < 10; i++) if (pacer.take(host('10.0.0.1'), t0)) one++
    assert.equal(one, 4, 'one host: a burst of 4')
    let all = 0
    for (let i = 0; i < 20; i++) if (pacer.take(host(`10.0.1.${i}`), t0)) all++
    assert.equal(all, 6, 'in all: a burst of 10, 4 of it spent')
    // half a second later: 5 more in all, 2 more to the first host
    assert.equal(pacer.take(host('10.0.0.1'), t0 + 500), true)
    assert.equal(pacer.take(host('10.0.0.1'), t0 + 500), true)
    assert.equal(pacer.take(host('10.0.0.1'), t0 + 500), false)
  })
})

describe('Discovery: restoring from the peer store', () => {
  it('keeps the pinned addresses first, at most 8, and drops any that are not addresses to dial', async () => {
    const { d } = await discovery()
    const id = await randomPeerId()
    const hello = await addrOf(5000, id)
    const many = await Promise.all(Array.from({ length: 20 }, async (_, i) => addrOf(6000 + i, id)))
    const unix = `/unix/${encodeURIComponent('/tmp/victim.sock')}/p2p/${id}`
    assert.equal(d.restore(id, PeerEndpoint.Type.VALIDATOR, {
      addresses: [unix, ...many, hello], pinned: [hello, unix], typeConfirmed: true, connected: true, addedAt: 1, lastSeen: 1, failures: 0, nextDialAt: 0
    }), true)
    const node = d.get(id)!
    assert.equal(node.addresses[0].toString(), hello)
    assert.equal(node.addresses.length, 8)
    assert.ok(!node.addresses.some(a => a.toString().startsWith('/unix/')))
    assert.deepEqual([...node.pinned], [hello])
  })
})
