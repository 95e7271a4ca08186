import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { CHAT_PROTOCOL, createMessage, DatastoreLedger, HelloMessage, PeerEndpoint, timestampNow, fabricConnectionGater, libp2pSecurityHelper, Message, noopsEngine, Response, responseText, signTransaction, Transaction } from '../src/index.js'
import { FakePeer, frame } from './helpers/fake-peer.js'
import { createNode, nextEvent, waitFor } from './helpers/nodes.js'
import type { FabricNode, NodeOptions } from './helpers/nodes.js'
import type { FabricPeerInit, SecurityInit } from '../src/index.js'
import { InvalidParametersError } from '@libp2p/interface'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

const running: Array<Libp2p | FakePeer> = []
afterEach(async () => { await Promise.all(running.splice(0).map(async n => n.stop())) })

async function node (fabric: FabricPeerInit, options: Omit<NodeOptions, 'fabric'> = {}): Promise<FabricNode> {
  const n = await createNode({ ...options, fabric: { touchPeriod: 0, ...fabric } })
  running.push(n)
  return n
}

async function keys (count: number): Promise<PrivateKey[]> {
  return Promise.all(Array.from({ length: count }, async () => generateKeyPair('Ed25519')))
}

function tx (id: string): Transaction {
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new Uint8Array(0), payload: new TextEncoder().encode(id), metadata: new Uint8Array(0), txid: id, timestamp: timestampNow(), nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

/** A fake peer with a key, chatting with `target` after a correctly signed hello */
async function signedFake (target: FabricNode): Promise<FakePeer> {
  const fake = await FakePeer.create((await keys(1))[0])
  running.push(fake)
  await fake.hello(target.getMultiaddrs())
  await waitFor(() => target.services.fabric.isEstablished(fake.node.peerId), 'the fake peer to be established')
  return fake
}

const SECURE: FabricPeerInit = { security: { enabled: true, maxMessageAge: 60_000 } }

describe('signed chats', () => {
  it('honest secure peers chat, and transactions from a non-validator are signed end to end', async () => {
    const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
    const validator = await node({ ...SECURE, ledger, engine: noopsEngine({ ledger, logger: defaultLogger() }) })
    const nvp = await node({ ...SECURE, validator: false })
    await nvp.services.fabric.chatWithPeer(validator.getMultiaddrs())

    const got = nextEvent(validator.services.fabric, 'message', d => d.message.type === Message.Type.CONSENSUS)
    nvp.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(7)))
    const { message } = await got
    assert.ok(message.signature.byteLength > 0, 'the message was not signed')

    const res = await nvp.services.fabric.processTransaction(tx('secure-1'))
    assert.equal(res.status, Response.StatusCode.SUCCESS, responseText(res))
    const block = await ledger.getBlock(0)
    assert.deepEqual(Uint8Array.from(block!.transactions[0].cert), Uint8Array.from(libp2pSecurityHelper((nvp as any).components.privateKey).getID()))
  })

  it('a forged signature is rejected', async () => {
    const target = await node(SECURE)
    const fake = await signedFake(target)
    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.node.peerId))
    const signed = fake.sign(createMessage(Message.Type.CONSENSUS, Uint8Array.of(1)))
    fake.send({ ...signed, payload: Uint8Array.of(2) as Uint8Array<ArrayBuffer> })
    assert.equal((await rejected).reason, 'CONSENSUS with an invalid signature')
  })

  it('an unsigned message is rejected', async () => {
    const target = await node(SECURE)
    const fake = await signedFake(target)
    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.node.peerId))
    fake.send(createMessage(Message.Type.CONSENSUS, Uint8Array.of(1)))
    assert.equal((await rejected).reason, 'unsigned CONSENSUS')
  })

  it('a replayed old message is rejected when a freshness window is set', async () => {
    const target = await node(SECURE)
    const fake = await signedFake(target)
    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.node.peerId))
    const old = { ...createMessage(Message.Type.CONSENSUS, Uint8Array.of(1)), timestamp: { seconds: Math.floor(Date.now() / 1000) - 3600, nanos: 0 } }
    fake.send(fake.sign(old))
    assert.match((await rejected).reason, /^CONSENSUS older than maxMessageAge/)
  })

  it('an unsigned hello, a hello without its key, and a hello with someone else\'s key are rejected', async () => {
    const target = await node(SECURE)

    const unsigned = await FakePeer.create()
    running.push(unsigned)
    const r1 = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(unsigned.node.peerId))
    await unsigned.hello(target.getMultiaddrs()).catch(() => {})
    assert.equal((await r1).reason, 'unsigned DISC_HELLO')

    const [key, other] = await keys(2)
    const impostor = await FakePeer.create(key)
    running.push(impostor)
    // signs its hello with another key than the one the connection authenticated
    impostor.privateKey = other
    const r2 = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(impostor.node.peerId))
    await impostor.hello(target.getMultiaddrs()).catch(() => {})
    assert.equal((await r2).reason, 'DISC_HELLO with an invalid signature')

    // signed, but without the key to check it with
    const keyless = await FakePeer.create((await keys(1))[0])
    running.push(keyless)
    const r3 = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(keyless.node.peerId))
    const stream = await keyless.node.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL)
    stream.send(frame(keyless.sign(createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
      peerEndpoint: { ID: { name: keyless.node.peerId.toString() }, address: '', type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }
    })))))
    assert.equal((await r3).reason, 'hello without a pkiID')
    assert.deepEqual(target.services.fabric.getPeers().peers, [])
  })

  it('a forged or unsigned transaction gets FAILURE', async () => {
    const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
    const validator = await node({ ...SECURE, ledger, engine: noopsEngine({ ledger, logger: defaultLogger() }) })
    const client = await node({ touchPeriod: 0 }) // security off: sends what it is given
    await client.dial(validator.getMultiaddrs())

    const unsigned = await client.services.fabric.sendTransactionToPeer(validator.peerId, tx('unsigned'))
    assert.equal(unsigned.status, Response.StatusCode.FAILURE)
    assert.match(responseText(unsigned), /unsigned or its signature is invalid/)

    const signed = signTransaction(libp2pSecurityHelper((await keys(1))[0]), tx('forged'))
    const forged = await client.services.fabric.sendTransactionToPeer(validator.peerId, { ...signed, payload: new TextEncoder().encode('changed') as Uint8Array<ArrayBuffer> })
    assert.equal(forged.status, Response.StatusCode.FAILURE)
    assert.equal(ledger.height, 0)

    const good = await client.services.fabric.sendTransactionToPeer(validator.peerId, signed)
    assert.equal(good.status, Response.StatusCode.SUCCESS, responseText(good))
  })
})

describe('permissioned membership', () => {
  it('a peer outside allowedPeers cannot open a connection through the gater, and never appears in getPeers()', async () => {
    const [aKey, bKey, cKey] = await keys(3)
    const security: SecurityInit = { enabled: true, allowedPeers: [aKey, bKey].map(k => peerIdFromPrivateKey(k).toString()) }
    const a = await node({ security }, { privateKey: aKey, connectionGater: fabricConnectionGater(security) })
    const b = await node({ security }, { privateKey: bKey, connectionGater: fabricConnectionGater(security) })
    const c = await node({ security: { enabled: true } }, { privateKey: cKey })

    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    await assert.rejects(c.services.fabric.chatWithPeer(a.getMultiaddrs()))
    assert.equal(a.getConnections(c.peerId).length, 0, 'the gater let the connection through')
    // nor does a dial out to a non-member
    await assert.rejects(a.services.fabric.chatWithPeer(c.getMultiaddrs()))
    assert.deepEqual(a.services.fabric.getPeers().peers.map(p => p.ID?.name), [b.peerId.toString()])
  })

  it('without the gater the service still refuses non-members at hello, and a member outside the validator set cannot claim to validate', async () => {
    const [aKey, memberKey, strangerKey] = await keys(3)
    const ids = [aKey, memberKey].map(k => peerIdFromPrivateKey(k).toString())
    const a = await node({ security: { enabled: true, isMember: (peer) => ids.includes(peer.toString()), validators: [ids[0]] } }, { privateKey: aKey })

    const stranger = await node({ security: { enabled: true } }, { privateKey: strangerKey })
    const r1 = nextEvent(a.services.fabric, 'peer:rejected', d => d.peerId.equals(stranger.peerId))
    await assert.rejects(stranger.services.fabric.chatWithPeer(a.getMultiaddrs()))
    assert.equal((await r1).reason, 'not a member of this network')

    const member = await node({ security: { enabled: true } }, { privateKey: memberKey })
    const r2 = nextEvent(a.services.fabric, 'peer:rejected', d => d.peerId.equals(member.peerId))
    await assert.rejects(member.services.fabric.chatWithPeer(a.getMultiaddrs()))
    assert.equal((await r2).reason, 'not in the validator set')

    assert.deepEqual(a.services.fabric.getPeers().peers, [])

    // the same member, as a non-validator, is welcome
    await member.stop()
    const asNonValidator = await node({ validator: false, security: { enabled: true } }, { privateKey: memberKey })
    await asNonValidator.services.fabric.chatWithPeer(a.getMultiaddrs())
    assert.deepEqual(a.services.fabric.getPeers().peers.map(p => p.ID?.name), [asNonValidator.peerId.toString()])
  })
})

describe('security contract', () => {
  it('a transaction signed by a non-member, or submitted twice, gets FAILURE', async () => {
    const [vKey, clientKey, strangerKey] = await keys(3)
    const members = [vKey, clientKey].map(k => peerIdFromPrivateKey(k).toString())
    const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
    const validator = await node({ security: { enabled: true, allowedPeers: members, maxMessageAge: 60_000 }, ledger, engine: noopsEngine({ ledger, logger: defaultLogger() }) }, { privateKey: vKey })
    const client = await node({ touchPeriod: 0 }, { privateKey: clientKey })
    await client.dial(validator.getMultiaddrs())

    const byStranger = await client.services.fabric.sendTransactionToPeer(validator.peerId, signTransaction(libp2pSecurityHelper(strangerKey), tx('stranger')))
    assert.equal(byStranger.status, Response.StatusCode.FAILURE)
    assert.match(responseText(byStranger), /not a member of this network/)

    const signed = signTransaction(libp2pSecurityHelper(clientKey), tx('once'))
    assert.equal((await client.services.fabric.sendTransactionToPeer(validator.peerId, signed)).status, Response.StatusCode.SUCCESS)
    const again = await client.services.fabric.sendTransactionToPeer(validator.peerId, signed)
    assert.equal(again.status, Response.StatusCode.FAILURE)
    assert.match(responseText(again), /already submitted \(a replay\)/)
    assert.equal(ledger.height, 1)
  })

  it('a membership check that throws admits no one, and nothing crashes', async () => {
    const target = await node({ security: { enabled: true, isMember: async () => { throw new Error('membership service unreachable') } } })

    // an unsigned hello is refused for its signature; the failing check is never left unhandled
    const unsigned = await FakePeer.create()
    running.push(unsigned)
    const r1 = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(unsigned.node.peerId))
    await unsigned.hello(target.getMultiaddrs()).catch(() => {})
    assert.equal((await r1).reason, 'unsigned DISC_HELLO')

    // a signed one is refused for membership
    const signed = await FakePeer.create((await keys(1))[0])
    running.push(signed)
    const r2 = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(signed.node.peerId))
    await signed.hello(target.getMultiaddrs()).catch(() => {})
    assert.equal((await r2).reason, 'not a member of this network')
  })

  it('a custom helper must sign with the node\'s key; security options without enabled are an error', async () => {
    const [nodeKey, otherKey] = await keys(2)
    await assert.rejects(createNode({ privateKey: nodeKey, fabric: { security: { enabled: true, helper: libp2pSecurityHelper(otherKey) } } }), InvalidParametersError)
    await assert.rejects(createNode({ fabric: { security: { allowedPeers: [] } } }), InvalidParametersError)

    // a helper that wraps the node's own key (say, a remote signer) is fine
    const wrapped = libp2pSecurityHelper(nodeKey)
    let signatures = 0
    const counting = { ...wrapped, sign: (data: Uint8Array) => { signatures++; return wrapped.sign(data) } }
    const a = await node({ security: { enabled: true, helper: counting } }, { privateKey: nodeKey })
    const b = await node(SECURE)
    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    assert.ok(signatures > 1)
  })
})

describe('SecurityHelper', () => {
  it('has Fabric\'s GetEnrollmentID: the default helper\'s is the PeerId string', async () => {
    const [key] = await keys(1)
    const helper = libp2pSecurityHelper(key)
    assert.equal(helper.getEnrollmentID?.(), peerIdFromPrivateKey(key).toString())
  })
})
