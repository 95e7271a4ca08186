import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { InvalidParametersError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { CHAT_PROTOCOL, createMessage, fabricPeer, HelloMessage, Message, NotEstablishedError, PeerEndpoint, PeersMessage, SendQueueFullError } from '../src/index.js'
import { frame } from './helpers/fake-peer.js'
import { createNode, createRawNode, nextEvent, stopAll, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { ChatMessageEvent, FabricPeerInit } from '../src/index.js'

const nodes: FabricNode[] = []

async function node (fabric: FabricPeerInit = {}): Promise<FabricNode> {
  const n = await createNode({ fabric })
  nodes.push(n)
  return n
}

function endpointOf (n: FabricNode, type = PeerEndpoint.Type.VALIDATOR): PeerEndpoint {
  return {
    ID: { name: n.peerId.toString() },
    address: n.getMultiaddrs()[0].toString(),
    type,
    pkiID: publicKeyToProtobuf(n.peerId.publicKey!) as Uint8Array<ArrayBuffer>
  }
}

/** Decoded bytes are Buffers in Node; compare endpoints as plain data */
function plain (e: PeerEndpoint | undefined): PeerEndpoint | undefined {
  return e == null ? e : { ...e, pkiID: Uint8Array.from(e.pkiID) }
}

function byId (peers: PeersMessage): Map<string, PeerEndpoint | undefined> {
  return new Map(peers.peers.map(p => [p.ID!.name, plain(p)]))
}

afterEach(async () => {
  await stopAll(nodes.splice(0))
})

after(async () => {
  await stopAll(nodes)
})

describe('chat establishment', () => {
  it('two nodes establish a chat and list each other with correct endpoints', async () => {
    const a = await node()
    const b = await node({ validator: false })

    const established = nextEvent(b.services.fabric, 'peer:established')
    const endpoint = await a.services.fabric.chatWithPeer(b.getMultiaddrs()[0])
    const onB = await established

    assert.deepEqual(plain(endpoint), endpointOf(b, PeerEndpoint.Type.NON_VALIDATOR))
    assert.equal(onB.peerId.toString(), a.peerId.toString())
    assert.equal(onB.initiated, false)
    assert.deepEqual(a.services.fabric.getPeers().peers.map(plain), [endpointOf(b, PeerEndpoint.Type.NON_VALIDATOR)])
    assert.deepEqual(b.services.fabric.getPeers().peers.map(plain), [endpointOf(a)])

    const address = multiaddr(endpoint.address)
    assert.equal(address.getComponents().at(-1)?.name, 'p2p')
    assert.equal(address.getComponents().at(-1)?.value, b.peerId.toString())
  })

  it('three nodes each list the other two', async () => {
    const [a, b, c] = await Promise.all([node(), node(), node({ validator: false })])

    await a.services.fabric.chatWithPeer(b.getMultiaddrs())
    await a.services.fabric.chatWithPeer(c.getMultiaddrs())
    await b.services.fabric.chatWithPeer(c.getMultiaddrs())

    await waitFor(() => [a, b, c].every(n => n.services.fabric.getPeers().peers.length === 2), 'every node to have 2 chats')

    for (const n of [a, b, c]) {
      const others = [a, b, c].filter(o => o !== n)
      const peers = byId(n.services.fabric.getPeers())

      for (const o of others) {
        const type = o === c ? PeerEndpoint.Type.NON_VALIDATOR : PeerEndpoint.Type.VALIDATOR
        assert.deepEqual(peers.get(o.peerId.toString()), endpointOf(o, type))
      }
    }
  })

  it('chatWithPeer twice, or concurrently, opens one chat', async () => {
    const [a, b] = await Promise.all([node(), node()])
    let established = 0
    a.services.fabric.addEventListener('peer:established', () => { established++ })

    const [e1, e2] = await Promise.all([
      a.services.fabric.chatWithPeer(b.getMultiaddrs()),
      a.services.fabric.chatWithPeer(b.getMultiaddrs())
    ])
    const e3 = await a.services.fabric.chatWithPeer(b.peerId)

    assert.deepEqual(e1, e2)
    assert.deepEqual(e1, e3)
    assert.equal(established, 1)
    assert.equal(chatStreams(a, b).length, 1)
  })

  it('a simultaneous dial from both sides ends with exactly one chat on each side, the same stream', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([node(), node()])
      const counts = { a: 0, b: 0, closedA: 0, closedB: 0 }
      a.services.fabric.addEventListener('peer:established', () => { counts.a++ })
      b.services.fabric.addEventListener('peer:established', () => { counts.b++ })
      a.services.fabric.addEventListener('peer:closed', () => { counts.closedA++ })
      b.services.fabric.addEventListener('peer:closed', () => { counts.closedB++ })

      // connect first so both chat streams race on live connections
      await a.dial(b.getMultiaddrs())
      await waitFor(() => b.getConnections(a.peerId).length > 0, 'the connection on both sides')
      await Promise.all([
        a.services.fabric.chatWithPeer(b.peerId),
        b.services.fabric.chatWithPeer(a.peerId)
      ])

      // the losing stream is closed on both sides
      await waitFor(() => chatStreams(a, b).length === 1 && chatStreams(b, a).length === 1, 'one open chat stream on each side')

      assert.equal(a.services.fabric.getPeers().peers.length, 1)
      assert.equal(b.services.fabric.getPeers().peers.length, 1)
      assert.deepEqual(counts, { a: 1, b: 1, closedA: 0, closedB: 0 }, `round ${round}`)

      // the kept stream is the one opened by the smaller PeerId, on both sides
      const smaller = Buffer.compare(a.peerId.toMultihash().bytes, b.peerId.toMultihash().bytes) < 0 ? a : b
      assert.equal(chatStreams(a, b)[0].direction, smaller === a ? 'outbound' : 'inbound')
      assert.equal(chatStreams(b, a)[0].direction, smaller === b ? 'outbound' : 'inbound')

      // and it carries messages both ways
      const got = nextEvent(b.services.fabric, 'message', d => d.message.type === Message.Type.CONSENSUS)
      a.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(round)), b.peerId)
      assert.deepEqual(Uint8Array.from((await got).message.payload), Uint8Array.of(round))

      await stopAll(nodes.splice(0))
    }
  })

  it('a simultaneous dial with a slow ledger loses none of the messages each side sends as soon as it is established', async () => {
    // an async ledger widens the window in which each side can first register a different stream
    const ledger = {
      getBlockchainInfo: async () => {
        await new Promise(resolve => setTimeout(resolve, Math.random() * 30))
        return { height: 0, currentBlockHash: new Uint8Array(0), previousBlockHash: new Uint8Array(0) }
      }
    }

    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([node({ ledger }), node({ ledger })])
      const got = { a: 0, b: 0 }
      const events: string[] = []

      for (const [name, self, other] of [['a', a, b], ['b', b, a]] as const) {
        self.services.fabric.addEventListener('message', (evt) => { if (evt.detail.message.type === Message.Type.CONSENSUS) got[name]++ })
        self.services.fabric.addEventListener('peer:established', () => {
          events.push(`${name} established`)
          self.services.fabric.unicast(createMessage(Message.Type.CONSENSUS), other.peerId)
        })
        self.services.fabric.addEventListener('peer:closed', () => { events.push(`${name} closed`) })
      }

      await a.dial(b.getMultiaddrs())
      await waitFor(() => b.getConnections(a.peerId).length > 0, 'the connection on both sides')
      await Promise.all([a.services.fabric.chatWithPeer(b.peerId), b.services.fabric.chatWithPeer(a.peerId)])
      await waitFor(() => got.a === 1 && got.b === 1, `each side to receive the other's message (round ${round}: ${JSON.stringify(got)})`, 5_000)
      await waitFor(() => chatStreams(a, b).length === 1 && chatStreams(b, a).length === 1, 'one chat stream each side')
      assert.deepEqual(events.sort(), ['a established', 'b established'], `round ${round}`)

      await stopAll(nodes.splice(0))
    }
  })

  it('concurrent chatWithPeer calls share a dial, but one caller\'s abort ends only its own wait', async () => {
    const [a, b] = await Promise.all([node(), node()])
    const first = a.services.fabric.chatWithPeer(b.getMultiaddrs(), { signal: AbortSignal.abort() })
    const second = a.services.fabric.chatWithPeer(b.getMultiaddrs())

    await assert.rejects(first, { name: 'AbortError' })
    assert.equal((await second).ID?.name, b.peerId.toString())
  })

  it('a node stopped while a hello is in flight never registers that chat', async () => {
    const a = await node()
    const raw = await createRawNode()
    // a listener that answers its hello late
    await raw.handle(CHAT_PROTOCOL, (stream) => {
      setTimeout(() => {
        try {
          stream.send(frame(createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
            peerEndpoint: { ID: { name: raw.peerId.toString() }, address: '', type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }
          }))))
        } catch {}
      }, 300)
    })
    let established = 0
    a.services.fabric.addEventListener('peer:established', () => { established++ })

    const chat = a.services.fabric.chatWithPeer(raw.getMultiaddrs())
    chat.catch(() => {})
    await new Promise(resolve => setTimeout(resolve, 100))
    await a.stop()

    await assert.rejects(chat)
    assert.equal(established, 0)
    await raw.stop()
  })

  it('refuses to chat with itself and with an address without /p2p/', async () => {
    const a = await node()
    await assert.rejects(a.services.fabric.chatWithPeer(a.peerId), InvalidParametersError)
    await assert.rejects(a.services.fabric.chatWithPeer('/ip4/127.0.0.1/tcp/1'), InvalidParametersError)
  })

  it('closing a node emits peer:closed on the others and removes it from getPeers()', async () => {
    const [a, b, c] = await Promise.all([node(), node(), node()])
    await a.services.fabric.chatWithPeer(c.getMultiaddrs())
    await b.services.fabric.chatWithPeer(c.getMultiaddrs())

    const closedOnA = nextEvent(a.services.fabric, 'peer:closed')
    const closedOnB = nextEvent(b.services.fabric, 'peer:closed')
    await c.stop()

    const [onA, onB] = await Promise.all([closedOnA, closedOnB])
    assert.equal(onA.peerId.toString(), c.peerId.toString())
    assert.equal(onB.peerId.toString(), c.peerId.toString())
    assert.equal(onA.reason, 'disconnected by peer: peer is stopping')
    assert.deepEqual(a.services.fabric.getPeers(), { peers: [] })
    assert.deepEqual(b.services.fabric.getPeers(), { peers: [] })
  })
})

describe('peer exchange', () => {
  it('DISC_GET_PEERS every discovery period is answered with DISC_PEERS listing established peers', async () => {
    const a = await node({ discoveryPeriod: 200 })
    const [b, c] = await Promise.all([node(), node({ validator: false })])
    await b.services.fabric.chatWithPeer(c.getMultiaddrs())

    const answer = nextEvent(a.services.fabric, 'message', d => d.message.type === Message.Type.DISC_PEERS)
    await a.services.fabric.chatWithPeer(b.getMultiaddrs())

    const { peerId, message } = await answer
    assert.equal(peerId.toString(), b.peerId.toString())
    const listed = byId(PeersMessage.decode(message.payload))
    assert.deepEqual(listed.get(c.peerId.toString()), endpointOf(c, PeerEndpoint.Type.NON_VALIDATOR))
    assert.deepEqual(listed.get(a.peerId.toString()), endpointOf(a))
  })
})

describe('peer exchange fanout', () => {
  it('each discovery period asks discoveryFanout random chats for their peers; -1 asks them all', async () => {
    async function asksIn (fanout: number, ms: number): Promise<number> {
      const a = await node({ discoveryPeriod: 100, discoveryFanout: fanout })
      const others = await Promise.all([node(), node(), node(), node()])
      for (const o of others) await a.services.fabric.chatWithPeer(o.getMultiaddrs())
      await new Promise(resolve => setTimeout(resolve, 150))
      let asks = 0
      for (const o of others) {
        o.services.fabric.addEventListener('message', (evt) => {
          if (evt.detail.message.type === Message.Type.DISC_GET_PEERS && evt.detail.peerId.equals(a.peerId)) asks++
        })
      }
      await new Promise(resolve => setTimeout(resolve, ms))
      await Promise.all([a, ...others].map(async n => n.stop()))
      return asks
    }

    const one = await asksIn(1, 1_000)
    const all = await asksIn(-1, 1_000)
    // ~10 periods: one ask each, against four
    assert.ok(one >= 5 && one <= 13, `fanout 1: ${one} asks in ~10 periods`)
    assert.ok(all >= 3 * one, `fanout -1: ${all} asks, fanout 1: ${one}`)
    await assert.rejects(createNode({ fabric: { discoveryFanout: -2 } }), InvalidParametersError)
  })
})

describe('peer exchange answers', () => {
  it('a DISC_PEERS answer is trimmed to fit maxMessageSize instead of failing the chat', async () => {
    const a = await node({ maxMessageSize: 400, discoveryPeriod: 100 })
    const others = await Promise.all([node(), node(), node()])
    for (const o of others) await o.services.fabric.chatWithPeer(a.getMultiaddrs())

    const answer = await nextEvent(others[0].services.fabric, 'message', d => d.message.type === Message.Type.DISC_PEERS)
    assert.ok(PeersMessage.encode(PeersMessage.decode(answer.message.payload)).byteLength <= 400)
    assert.ok(others.every(o => a.services.fabric.isEstablished(o.peerId) && o.services.fabric.isEstablished(a.peerId)))
  })
})

describe('broadcast and unicast', () => {
  it('broadcast to VALIDATOR reaches only validators, UNDEFINED reaches all', async () => {
    const [a, v, nv] = await Promise.all([node(), node(), node({ validator: false })])
    await a.services.fabric.chatWithPeer(v.getMultiaddrs())
    await a.services.fabric.chatWithPeer(nv.getMultiaddrs())

    const received = new Map<string, string[]>([[v.peerId.toString(), []], [nv.peerId.toString(), []]])
    for (const n of [v, nv]) {
      n.services.fabric.addEventListener('message', (evt) => {
        if (evt.detail.message.type !== Message.Type.CONSENSUS) return
        received.get(n.peerId.toString())!.push(new TextDecoder().decode(evt.detail.message.payload))
      })
    }

    const toValidators = a.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode('validators')), PeerEndpoint.Type.VALIDATOR)
    assert.deepEqual(toValidators.sent.map(String), [v.peerId.toString()])
    assert.deepEqual(toValidators.failed, [])

    // a chat is ordered: once the later message to everyone has arrived, an earlier one would have too
    const toAll = a.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode('all')))
    assert.equal(toAll.sent.length, 2)

    await waitFor(() => [...received.values()].every(r => r.includes('all')), 'the broadcast to all')
    assert.deepEqual(received.get(v.peerId.toString()), ['validators', 'all'])
    assert.deepEqual(received.get(nv.peerId.toString()), ['all'])
  })

  it('unicast to a peer without an established chat is a NotEstablishedError', async () => {
    const [a, b] = await Promise.all([node(), node()])
    assert.throws(() => { a.services.fabric.unicast(createMessage(Message.Type.CONSENSUS), b.peerId) }, NotEstablishedError)
  })

  it('delivers 20 000 messages in order in both directions', async () => {
    const [a, b] = await Promise.all([node(), node()])
    await a.services.fabric.chatWithPeer(b.getMultiaddrs())
    const count = 20_000

    const collect = async (n: FabricNode): Promise<number[]> => new Promise(resolve => {
      const seen: number[] = []
      n.services.fabric.addEventListener('message', (evt: CustomEvent<ChatMessageEvent>) => {
        if (evt.detail.message.type !== Message.Type.CONSENSUS) return
        seen.push(new DataView(evt.detail.message.payload.buffer, evt.detail.message.payload.byteOffset).getUint32(0))
        if (seen.length === count) resolve(seen)
      })
    })
    const atA = collect(a)
    const atB = collect(b)

    // a sender that respects backpressure: on a full queue, wait and retry
    const send = async (from: FabricNode, to: FabricNode, msg: Message): Promise<void> => {
      for (;;) {
        try {
          from.services.fabric.unicast(msg, to.peerId)
          return
        } catch (err) {
          if (!(err instanceof SendQueueFullError)) throw err
          await new Promise(resolve => setTimeout(resolve, 5))
        }
      }
    }

    for (let i = 0; i < count; i++) {
      const payload = new Uint8Array(100)
      new DataView(payload.buffer).setUint32(0, i)
      await send(a, b, createMessage(Message.Type.CONSENSUS, payload))
      await send(b, a, createMessage(Message.Type.CONSENSUS, payload))
    }

    const expected = Array.from({ length: count }, (_, i) => i)
    assert.deepEqual(await atB, expected)
    assert.deepEqual(await atA, expected)
  })

  it('delivers 1 MiB messages intact', async () => {
    const [a, b] = await Promise.all([node(), node()])
    await a.services.fabric.chatWithPeer(b.getMultiaddrs())
    const payloads = Array.from({ length: 8 }, (_, i) => new Uint8Array(1024 * 1024).fill(i + 1))
    const got: Uint8Array[] = []
    const done = new Promise<void>(resolve => {
      b.services.fabric.addEventListener('message', (evt) => {
        if (evt.detail.message.type !== Message.Type.CONSENSUS) return
        got.push(evt.detail.message.payload)
        if (got.length === payloads.length) resolve()
      })
    })

    for (const p of payloads) {
      a.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, p), b.peerId)
    }

    await done
    assert.deepEqual(got.map(p => Uint8Array.from(p)), payloads)
  })
})

describe('configuration', () => {
  it('rejects an engine together with a handlerFactory, and non-positive limits', async () => {
    const factory = (): never => { throw new Error('unused') }
    const engine = { getHandlerFactory: () => factory, processTransactionMessage: () => { throw new Error('unused') } }

    await assert.rejects(createNode({ fabric: { engine, handlerFactory: factory } }), InvalidParametersError)
    await assert.rejects(createNode({ fabric: { maxMessageSize: 0 } }), InvalidParametersError)
    await assert.rejects(createNode({ fabric: { discoveryPeriod: -1 } }), InvalidParametersError)
    await assert.rejects(createNode({ fabric: { address: 'not a multiaddr' } }), InvalidParametersError)
    assert.equal(typeof fabricPeer(), 'function')
  })
})

describe('the service\'s surface', () => {
  // what a chat calls back into (registration, rate, admission, the peer
  // exchange) belongs to its parts, not to node.services.fabric
  const INTERNALS = ['register', 'deregister', 'admit', 'admitPeer', 'checkMessage', 'replacementFor', 'sendQueueFull',
    'peerRejected', 'messageReceived', 'peersReceived', 'peersToShare', 'localHello', 'createEngineHandler', 'sweep',
    'rejected', 'delivered', 'exchange', 'guard', 'chats', 'transactions', 'touch', 'listStore', 'events']

  it('chat internals are not reachable from node.services.fabric, and engines get only the coordinator', async () => {
    let coordinator: object | undefined
    const a = await node({ handlerFactory: (c, chat) => { coordinator = c; return { handleMessage: () => {}, sendMessage: (m) => { chat.send(m) }, to: () => chat.remoteEndpoint!, stop: () => {} } } })
    const b = await node()
    await a.services.fabric.chatWithPeer(b.getMultiaddrs())

    const fabric: Record<string, unknown> = a.services.fabric as any
    for (const name of INTERNALS) {
      assert.equal(fabric[name], undefined, `node.services.fabric.${name} is reachable`)
    }

    assert.ok(coordinator != null, 'the handler factory ran')
    assert.notEqual(coordinator, a.services.fabric, 'engines are handed the service itself')
    assert.deepEqual(Object.keys(coordinator).sort(), ['broadcast', 'flush', 'getPeerEndpoint', 'getPeers', 'getRemoteLedger', 'onDrain', 'unicast'])
    assert.ok(Object.isFrozen(coordinator))
    for (const name of INTERNALS) {
      assert.equal((coordinator as Record<string, unknown>)[name], undefined, `the engine's coordinator has ${name}`)
    }
    assert.equal((coordinator as any).getPeers().peers[0].ID.name, b.peerId.toString())
  })
})

/** The open chat streams `from` has with `to` */
function chatStreams (from: FabricNode, to: FabricNode): Array<{ direction: string }> {
  return from.getConnections(to.peerId)
    .flatMap(conn => conn.streams)
    .filter(s => s.protocol === CHAT_PROTOCOL && s.status === 'open')
}
