import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CHAT_GRACE, CHAT_TAG, CHAT_TAG_VALUE_NON_VALIDATOR, CHAT_TAG_VALUE_VALIDATOR, CONNECTION_CHECK_INTERVAL } from '../src/constants.js'
import { fabricPeer } from '../src/index.js'
import { createNode, createRawNode, stopAll, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { FabricPeerInit } from '../src/index.js'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

/** A fabric node on 127.0.0.1 with few connection slots; per-host limits lifted, as every peer here dials from one host */
async function createSmallNode (maxConnections: number, fabric: FabricPeerInit = {}): Promise<FabricNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections,
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 1000
    },
    services: { fabric: fabricPeer({ touchPeriod: 0, ...fabric }) }
  })
}

/** The value of our chat tag on a peer in `node`'s peer store, undefined without one */
async function chatTag (node: Libp2p, peerId: PeerId): Promise<number | undefined> {
  try {
    return (await node.peerStore.get(peerId)).tags.get(CHAT_TAG)?.value
  } catch {
    return undefined
  }
}

/** Long enough for a connection to outlive its grace and for a check to see it */
const PAST_GRACE = CHAT_GRACE + 2 * CONNECTION_CHECK_INTERVAL

describe('connection slots', () => {
  let nodes: Libp2p[] = []

  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('with every connection slot taken by strangers, a new validator still gets a chat', async () => {
    const maxConnections = 20
    const target = await createSmallNode(maxConnections)
    const validator = await createNode({ fabric: { touchPeriod: 0 } })
    const nonValidator = await createNode({ fabric: { touchPeriod: 0, validator: false } })
    nodes.push(target, validator, nonValidator)
    const targetAddrs = target.getMultiaddrs()

    await validator.services.fabric.chatWithPeer(targetAddrs)
    await nonValidator.services.fabric.chatWithPeer(targetAddrs)
    const chatConnections = [
      ...target.getConnections(validator.peerId),
      ...target.getConnections(nonValidator.peerId)
    ]

    // strangers: fresh identities that connect and never open a chat
    const strangers = await Promise.all(Array.from({ length: maxConnections - 2 }, async () => createRawNode()))
    nodes.push(...strangers)
    await Promise.all(strangers.map(async s => s.dial(targetAddrs)))
    await waitFor(() => target.getConnections().length === maxConnections, 'every slot taken')

    const closed: Connection[] = []
    target.addEventListener('connection:close', (evt) => { closed.push(evt.detail) })

    // at maxConnections libp2p refuses any inbound connection, before it knows who dials
    const late = await createRawNode()
    nodes.push(late)
    await assert.rejects(late.dial(targetAddrs, { signal: AbortSignal.timeout(5_000) }))

    // the strangers have held their slots past the grace; a new validator arrives
    await sleep(PAST_GRACE)
    const honest = await createNode({ fabric: { touchPeriod: 0 } })
    nodes.push(honest)
    await honest.services.fabric.chatWithPeer(targetAddrs, { signal: AbortSignal.timeout(5_000) })
    assert.ok(target.services.fabric.isEstablished(honest.peerId))

    // the chats that were there are untouched, on their own connections
    assert.ok(target.services.fabric.isEstablished(validator.peerId))
    assert.ok(target.services.fabric.isEstablished(nonValidator.peerId))
    for (const conn of chatConnections) assert.equal(conn.status, 'open')

    // only strangers were closed, and only as many as needed to free the reserve
    const strangerIds = new Set(strangers.map(s => s.peerId.toString()))
    assert.ok(closed.length >= 2, `${closed.length} connections closed`)
    for (const conn of closed) assert.ok(strangerIds.has(conn.remotePeer.toString()), `closed ${conn.remotePeer.toString()}, not a stranger`)
    const strangersLeft = target.getConnections().filter(c => strangerIds.has(c.remotePeer.toString())).length
    assert.ok(strangersLeft >= maxConnections - 2 - 4, `${strangersLeft} strangers left`)
  })

  it('tags chat peers in the peer store, validators above non-validators, and untags them when the chat ends', async () => {
    const target = await createSmallNode(20)
    const validator = await createNode({ fabric: { touchPeriod: 0 } })
    const nonValidator = await createNode({ fabric: { touchPeriod: 0, validator: false } })
    const stranger = await createRawNode()
    nodes.push(target, validator, nonValidator, stranger)
    const targetAddrs = target.getMultiaddrs()

    await validator.services.fabric.chatWithPeer(targetAddrs)
    await nonValidator.services.fabric.chatWithPeer(targetAddrs)
    await stranger.dial(targetAddrs)

    await waitFor(async () => await chatTag(target, validator.peerId) === CHAT_TAG_VALUE_VALIDATOR, 'the validator tagged', 3_000)
    await waitFor(async () => await chatTag(target, nonValidator.peerId) === CHAT_TAG_VALUE_NON_VALIDATOR, 'the non-validator tagged', 3_000)
    assert.ok(CHAT_TAG_VALUE_VALIDATOR > CHAT_TAG_VALUE_NON_VALIDATOR)
    assert.equal(await chatTag(target, stranger.peerId), undefined)

    await validator.stop()
    await waitFor(async () => await chatTag(target, validator.peerId) === undefined, 'the validator untagged', 3_000)
  })

  it('below the limit, a connection without a chat is left alone', async () => {
    const target = await createSmallNode(20)
    const stranger = await createRawNode()
    nodes.push(target, stranger)

    const conn = await stranger.dial(target.getMultiaddrs())
    await sleep(PAST_GRACE)
    assert.equal(conn.status, 'open')
    assert.equal(target.getConnections(stranger.peerId).length, 1)
  })
})
