/**
 * Issue 13's hostile peers, on the chat protocol: each attacker is a plain
 * libp2p node writing frames by hand on raw streams (never our sender). What
 * the node holds is read from its own byte accounting (`usage()`), RSS growth
 * of this process is sampled while the attack runs, and an honest peer keeps
 * chatting and gets a transaction through meanwhile.
 */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import * as varint from 'uint8-varint'
import { Key } from 'interface-datastore'
import { CHAT_PROTOCOL, createMessage, DatastoreLedger, DISCOVERY_LIST_KEY, PeersAddresses, libp2pSecurityHelper, Message, noopsEngine, PeerEndpoint, response, Response, signTransaction, SyncBlockRange, timestampNow, Transaction, TRANSACTION_PROTOCOL } from '../src/index.js'
import { FrameDecoder } from '../src/chat/frames.js'
import { FakePeer, frame } from './helpers/fake-peer.js'
import { createNode, createRawNode, nextEvent, stoppedAfterEach, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { Engine, FabricUsage } from '../src/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'

/** The most RSS one attacking peer may add (issue 13) */
const RSS_BOUND = 200 * 1024 * 1024

const { track, node } = stoppedAfterEach()

async function fake (): Promise<FakePeer> {
  return track(await FakePeer.create())
}

/** An engine that answers every transaction at once and takes `delay` ms per CONSENSUS message */
function engine (delay = 0): Engine {
  return {
    processTransactionMessage: (_msg, tx) => response(Response.StatusCode.SUCCESS, `took ${tx.txid}`),
    getHandlerFactory: () => (_coordinator, chat) => ({
      handleMessage: async (msg) => { if (delay > 0 && msg.type === Message.Type.CONSENSUS) await new Promise(resolve => setTimeout(resolve, delay)) },
      sendMessage: (msg) => { chat.send(msg) },
      to: () => chat.remoteEndpoint!,
      stop: () => {}
    })
  }
}

function tx (txid: string): Transaction {
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new TextEncoder().encode('cc'), payload: new Uint8Array(0), metadata: new Uint8Array(0), txid, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

/** Samples RSS and the target's usage() every 20 ms until stopped; the peaks */
function watch (target: FabricNode): { stop: () => { rssGrowth: number, peak: FabricUsage } } {
  const rss0 = process.memoryUsage().rss
  let rssPeak = rss0
  const peak: FabricUsage = { chats: 0, inboxFrames: 0, inboxBytes: 0, undecodedBytes: 0, sendQueueBytes: 0, transactionBytes: 0 }
  const sample = (): void => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
    const u = target.services.fabric.usage()
    for (const k of Object.keys(peak) as Array<keyof FabricUsage>) peak[k] = Math.max(peak[k], u[k])
  }
  const timer = setInterval(sample, 20)
  return { stop: () => { clearInterval(timer); sample(); return { rssGrowth: rssPeak - rss0, peak } } }
}

/** An honest peer keeps chatting with `target` and gets transactions through, until `until` settles */
async function honestTraffic (honest: FabricNode, target: FabricNode, until: Promise<unknown>): Promise<{ sent: number, received: number, txs: number }> {
  let received = 0
  target.services.fabric.addEventListener('message', (evt) => {
    if (evt.detail.peerId.equals(honest.peerId) && evt.detail.message.type === Message.Type.RESPONSE) received++
  })
  let done = false
  void until.finally(() => { done = true })
  let sent = 0
  let txs = 0
  while (!done) {
    honest.services.fabric.unicast(createMessage(Message.Type.RESPONSE, new Uint8Array(8)), target.peerId)
    sent++
    const res = await honest.services.fabric.sendTransactionToPeer(target.peerId, tx(`honest-${txs}`))
    assert.equal(res.status, Response.StatusCode.SUCCESS, new TextDecoder().decode(res.msg))
    txs++
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  await waitFor(() => received === sent, `all ${sent} honest messages to arrive (${received} did)`, 15_000)
  return { sent, received, txs }
}

/** Write `bytes` on a raw stream, waiting for drain when the stream asks us to */
async function write (stream: Stream, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(bytes)) {
    await new Promise<void>((resolve) => {
      const done = (): void => { stream.removeEventListener('drain', done); stream.removeEventListener('close', done); signal.removeEventListener('abort', done); resolve() }
      stream.addEventListener('drain', done)
      stream.addEventListener('close', done)
      signal.addEventListener('abort', done)
    })
  }
}

/** Write one Transaction's bytes by hand on a raw transaction stream and decode the Response */
async function rawTransaction (from: Libp2p, to: FabricNode, tx: Transaction): Promise<{ status: Response.StatusCode, text: string }> {
  const stream = await from.dialProtocol(to.getMultiaddrs(), TRANSACTION_PROTOCOL)
  const decoder = new FrameDecoder(1024 * 1024)
  const answered = new Promise<Uint8Array>((resolve, reject) => {
    stream.addEventListener('message', (evt) => { const [f] = decoder.push(evt.data); if (f != null) resolve(f) })
    stream.addEventListener('close', () => { reject(new Error('closed without a Response')) })
  })
  stream.send(frame(Transaction.encode(tx)))
  const res = Response.decode(await answered)
  await stream.close().catch(() => {})
  return { status: res.status, text: new TextDecoder().decode(res.msg) }
}

describe('hostile peers on the chat protocol (issue 13)', () => {
  it('(a) empty frames, 1 byte each on the wire, are held to the inbox budget before and after the hello', async () => {
    const target = await node({ engine: engine(), maxMessagesPerSecond: 2_000 })
    const honest = await node({ validator: false })
    await honest.services.fabric.chatWithPeer(target.getMultiaddrs())
    const watching = watch(target)

    // before the hello: 100 KB of zero-length frames on a fresh chat stream
    const early = await fake()
    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(early.node.peerId))
    const raw = await early.node.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL)
    raw.send(new Uint8Array(100 * 1024))
    assert.match((await rejected).reason, /before DISC_HELLO/)

    // after the hello: 2 MiB of them, two million messages if decoded at once
    const attacker = await fake()
    await attacker.hello(target.getMultiaddrs())
    const attack = (async () => {
      const zeros = new Uint8Array(64 * 1024)
      const stop = AbortSignal.timeout(3_000)
      for (let sent = 0; sent < 2 * 1024 * 1024 && !stop.aborted; sent += zeros.byteLength) await write(attacker.stream!, zeros, stop)
      await new Promise(resolve => setTimeout(resolve, 500))
    })()
    const honestly = await honestTraffic(honest, target, attack)
    const { rssGrowth, peak } = watching.stop()

    // the attacker's chat at most receiveQueueSize, the early one HELLO_RECEIVE_FRAMES, the honest one a few
    assert.ok(peak.inboxFrames <= 1_000 + 4 + 8, `inboxes held ${peak.inboxFrames} frames`)
    assert.ok(peak.inboxBytes <= 8 * 1024 * 1024, `inbox held ${peak.inboxBytes} bytes`)
    assert.ok(rssGrowth < RSS_BOUND, `RSS grew ${Math.round(rssGrowth / 2 ** 20)} MiB`)
    assert.ok(honestly.txs > 0 && honestly.received === honestly.sent)
    assert.equal(target.services.fabric.isEstablished(honest.peerId), true)
  })

  it('(b) frames of 4 MiB of signature and no payload count at their whole size, with a second chat stream left silent', async () => {
    const target = await node({ engine: engine(50) })
    const honest = await node({ validator: false })
    await honest.services.fabric.chatWithPeer(target.getMultiaddrs())
    const attacker = await fake()
    await attacker.hello(target.getMultiaddrs())
    await attacker.node.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL)
    const watching = watch(target)

    const big = frame({ ...createMessage(Message.Type.CONSENSUS), signature: new Uint8Array(4 * 1024 * 1024 - 64) })
    const attack = (async () => {
      const stop = AbortSignal.timeout(3_000)
      for (let i = 0; i < 600 && !stop.aborted; i++) await write(attacker.stream!, big, stop)
    })()
    const honestly = await honestTraffic(honest, target, attack)
    const { rssGrowth, peak } = watching.stop()

    // the budget (2 x maxMessageSize) plus the one frame that crosses it
    assert.ok(peak.inboxBytes <= 12 * 1024 * 1024 + 4096, `inbox held ${peak.inboxBytes} bytes`)
    assert.ok(rssGrowth < RSS_BOUND, `RSS grew ${Math.round(rssGrowth / 2 ** 20)} MiB`)
    assert.ok(honestly.txs > 0)
  })

  it('(d) a peer that stops reading and keeps sending SYNC_GET_BLOCKS gets no more work done for it, and is dropped', async () => {
    const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
    const target = await node({ ledger, engine: noopsEngine({ ledger, logger: defaultLogger() }), sendStallTimeout: 2_000 })
    for (let i = 0; i < 100; i++) {
      const t = { ...tx(`block-${i}`), payload: new Uint8Array(32 * 1024).fill(i) }
      assert.equal((await target.services.fabric.processTransaction(t)).status, Response.StatusCode.SUCCESS)
    }
    let reads = 0
    const getBlock = ledger.getBlock.bind(ledger)
    ledger.getBlock = async (n) => { reads++; return getBlock(n) }

    const honest = await node({ validator: false })
    await honest.services.fabric.chatWithPeer(target.getMultiaddrs())
    const attacker = await fake()
    // as a non-validator: this is not about who sequences (issue 14)
    await attacker.hello(target.getMultiaddrs(), PeerEndpoint.Type.NON_VALIDATOR)
    attacker.stream!.pause()
    const dropped = nextEvent(target.services.fabric, 'peer:closed', d => d.peerId.equals(attacker.node.peerId), 30_000)
    const watching = watch(target)

    // 3 000 requests for 100 blocks of 32 KiB: 3 MiB answers, 9 GiB if all were served
    const requests = 3_000
    const ask = frame(createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: 1, start: 0, end: 99 })))
    const attack = (async () => {
      const stop = AbortSignal.timeout(10_000)
      for (let i = 0; i < requests && !stop.aborted; i++) await write(attacker.stream!, ask, stop)
      await dropped
    })()
    const honestly = await honestTraffic(honest, target, attack)
    const { rssGrowth, peak } = watching.stop()

    assert.match((await dropped).reason, /^send queue stalled/)
    // what fits in its send queue (64 MiB: about 20 answers), not one answer per request
    assert.ok(reads < requests * 100 / 20, `${reads} block reads for a peer that reads nothing`)
    assert.ok(peak.sendQueueBytes <= 64 * 1024 * 1024 + 4 * 1024 * 1024, `send queues held ${peak.sendQueueBytes} bytes`)
    assert.ok(rssGrowth < RSS_BOUND, `RSS grew ${Math.round(rssGrowth / 2 ** 20)} MiB`)
    assert.ok(honestly.txs > 0)
  })

  it('(f) every DISC_GET_PEERS is answered, also one sent a second after the last', async () => {
    const target = await node({ discoveryPeriod: 5_000 })
    const attacker = await fake()
    await attacker.hello(target.getMultiaddrs())
    const answers = (): number => attacker.received.filter(m => m.type === Message.Type.DISC_PEERS).length

    for (let i = 1; i <= 3; i++) {
      attacker.send(createMessage(Message.Type.DISC_GET_PEERS))
      await waitFor(() => answers() >= i, `answer ${i} to DISC_GET_PEERS`, 2_000)
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
  })

  it('(h) with security on and default settings, a member\'s replayed or month-old signed transaction is refused', async () => {
    const memberKey = await generateKeyPair('Ed25519')
    const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
    const targetKey = await generateKeyPair('Ed25519')
    const members = [peerIdFromPrivateKey(memberKey), peerIdFromPrivateKey(targetKey)].map(String)
    const target = await createNode({ privateKey: targetKey, fabric: { touchPeriod: 0, security: { enabled: true, allowedPeers: members }, ledger, engine: noopsEngine({ ledger, logger: defaultLogger() }) } })
    track(target)
    const member = await createRawNode(memberKey)
    track(member)
    const helper = libp2pSecurityHelper(memberKey)

    const signed = signTransaction(helper, { ...tx('pay-once'), timestamp: timestampNow() })
    assert.equal((await rawTransaction(member, target, signed)).status, Response.StatusCode.SUCCESS)
    const replayed = await rawTransaction(member, target, signed)
    assert.equal(replayed.status, Response.StatusCode.FAILURE)
    assert.match(replayed.text, /replay/)

    const monthAgo = Math.floor(Date.now() / 1000) - 30 * 24 * 3600
    const old = await rawTransaction(member, target, signTransaction(helper, { ...tx('old'), timestamp: { seconds: monthAgo, nanos: 0 } }))
    assert.equal(old.status, Response.StatusCode.FAILURE)
    assert.match(old.text, /older than maxMessageAge/)
    assert.equal(ledger.height, 1)
  })

  it('(i) a persisted discovery record that is garbage or truncated is reported as a warning, with what was kept', async () => {
    const addresses = await Promise.all([1, 2, 3].map(async i => `/ip4/127.0.0.1/tcp/${4000 + i}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519'))}`))
    const whole = PeersAddresses.encode({ addresses })

    for (const [what, bytes, kept] of [['garbage', Uint8Array.from([0xff, 0x13, 0x37, 0x00, 0x42]), 0], ['truncated', whole.subarray(0, whole.byteLength - 10), 2]] as const) {
      const datastore = new MemoryDatastore()
      await datastore.put(new Key(DISCOVERY_LIST_KEY), bytes)
      const target = await createNode({ datastore, start: false, fabric: { touchPeriod: 0 } })
      track(target)
      const warned = nextEvent(target.services.fabric, 'warning', d => d.message.includes('corrupt'))
      await target.start()

      assert.match((await warned).message, new RegExp(`corrupt .*kept the ${kept} address`), what)
      assert.equal(target.services.fabric.discovery.size, kept, what)
    }
  })

  it('(c) a connection whose transaction streams keep being refused is closed, and honest transactions go on', async () => {
    const target = await node({ engine: engine() })
    const honest = await node({ validator: false })
    const attacker = await createRawNode()
    track(attacker)
    const connection = await attacker.dial(target.getMultiaddrs())
    // each stream announces a request of almost 4 MiB: one fits the connection's budget, the rest are refused
    const prefix = varint.encode(4 * 1024 * 1024 - 16)

    for (let i = 0; i < 64 && connection.status === 'open'; i++) {
      try {
        const stream = await connection.newStream(TRANSACTION_PROTOCOL, { signal: AbortSignal.timeout(2_000) })
        stream.send(prefix)
      } catch {}
    }

    await waitFor(() => connection.status !== 'open', 'the node to close the attacker\'s connection', 10_000)
    await honest.dial(target.getMultiaddrs())
    assert.equal((await honest.services.fabric.sendTransactionToPeer(target.peerId, tx('after'))).status, Response.StatusCode.SUCCESS)
  })

  it('(c) connections that fill the node-wide transaction budget do not get an honest connection closed', async () => {
    const target = await node({ engine: engine() })
    const honest = await node({ validator: false })
    const honestConnection = await honest.dial(target.getMultiaddrs())
    // 17 connections of their own, each holding one request of almost 4 MiB: the node's 64 MiB are full
    const announced = 4 * 1024 * 1024 - 16
    const head = varint.encode(announced)
    const body = new Uint8Array(announced - 1024)
    const attackers: Libp2p[] = []
    for (let i = 0; i < 17; i++) {
      const attacker = track(await createRawNode())
      attackers.push(attacker)
      const stream = await attacker.dialProtocol(target.getMultiaddrs(), TRANSACTION_PROTOCOL)
      stream.send(head)
      await write(stream, body, AbortSignal.timeout(5_000))
    }
    // and the last room with requests of 60 KiB, one byte short, from the same connections
    const small = varint.encode(60 * 1024)
    for (const attacker of attackers) {
      for (let i = 0; i < 8; i++) {
        try {
          const stream = await attacker.dialProtocol(target.getMultiaddrs(), TRANSACTION_PROTOCOL)
          stream.send(small)
          stream.send(new Uint8Array(60 * 1024 - 1))
        } catch {}
      }
    }
    await waitFor(() => target.services.fabric.usage().transactionBytes > 64 * 1024 * 1024 - 64 * 1024, 'the node-wide budget to fill', 10_000)

    // the honest client's requests are refused while the budget is full, more often than closes a connection
    for (let i = 0; i < 24; i++) {
      await honest.services.fabric.sendTransactionToPeer(target.peerId, tx(`refused-${i}`)).catch(() => {})
    }

    // (a closed one would be redialled by the next request: it is this connection that must stay)
    assert.equal(honestConnection.status, 'open', 'the honest connection was closed')
  })

  it('(a) bytes trickled one at a time between another stream\'s bulk are held as what they are, not as the buffers they arrived in', async () => {
    const target = await node({ engine: engine() })
    const attacker = track(await createRawNode())
    const connection = await attacker.dial(target.getMultiaddrs())
    // a chat stream before its hello: a prefix announcing 4 MiB, then its bytes one at a time
    const chat = await connection.newStream(CHAT_PROTOCOL)
    chat.send(varint.encode(4 * 1024 * 1024 - 16))
    // bulk on a transaction stream whose request is complete: the node drops what follows
    const bulk = await connection.newStream(TRANSACTION_PROTOCOL)
    bulk.send(frame(Transaction.encode(tx('bulk'))))
    const junk = new Uint8Array(65_000)
    const one = Uint8Array.of(0x2a)
    const before = process.memoryUsage().arrayBuffers
    let peak = before

    for (let i = 0; i < 1_500 && chat.status === 'open' && bulk.writeStatus === 'writable'; i++) {
      bulk.send(junk)
      chat.send(one)
      await new Promise(resolve => setImmediate(resolve))
      if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers)
    }
    peak = Math.max(peak, process.memoryUsage().arrayBuffers)

    const undecoded = target.services.fabric.usage().undecodedBytes
    assert.ok(undecoded <= 1_600, `${undecoded} bytes undecoded`)
    // 1 500 bytes trickled: without copying they held 1 500 decrypted buffers of ~64 KiB (~94 MiB)
    assert.ok(peak - before < 90 * 1024 * 1024, `array buffers grew ${Math.round((peak - before) / 2 ** 20)} MiB`)
  })

  it('(a) bytes trickled into a paused chat between another stream\'s bulk are held as what they are', async () => {
    // an engine that takes its time: the attacker's inbox fills and its chat pauses
    const target = await node({ engine: engine(2_000) })
    const attacker = await fake()
    await attacker.hello(target.getMultiaddrs())
    const consensus = frame(createMessage(Message.Type.CONSENSUS))
    for (let i = 0; i < 1_400; i++) attacker.stream!.send(consensus)
    // paused: a whole frame waits undecoded (a chat that reads decodes every
    // whole frame as it arrives). The inbox then holds 1 000 frames less the
    // batch (up to 256) its reader took before the engine stalled it
    await waitFor(() => {
      const usage = target.services.fabric.usage()
      return usage.inboxFrames >= 1_000 - 256 && usage.undecodedBytes >= consensus.byteLength
    }, 'the chat to pause with its inbox full')
    await new Promise(resolve => setTimeout(resolve, 100))

    const bulk = await attacker.node.dialProtocol(target.getMultiaddrs(), TRANSACTION_PROTOCOL)
    bulk.send(frame(Transaction.encode(tx('bulk'))))
    const junk = new Uint8Array(65_000)
    const one = Uint8Array.of(0x2a)
    const before = process.memoryUsage().arrayBuffers
    let peak = before

    for (let i = 0; i < 3_000 && attacker.stream!.status === 'open' && bulk.writeStatus === 'writable'; i++) {
      bulk.send(junk)
      attacker.stream!.send(one)
      await new Promise(resolve => setImmediate(resolve))
      if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers)
    }
    peak = Math.max(peak, process.memoryUsage().arrayBuffers)

    process.stdout.write(`# paused chat: array buffers +${Math.round((peak - before) / 2 ** 20)} MiB while 3 000 bytes were trickled\n`)
    // 3 000 bytes buffered by the paused stream: as received they held ~190 MiB of decrypted buffers
    assert.ok(peak - before < 130 * 1024 * 1024, `array buffers grew ${Math.round((peak - before) / 2 ** 20)} MiB`)
  })
})
