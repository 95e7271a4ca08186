import assert from 'node:assert/strict'
import { afterEach, before, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { MAX_TRANSACTION_REQUEST_BYTES, MAX_TRANSACTION_REQUEST_BYTES_PER_CONNECTION, TRANSACTION_REQUEST_TIMEOUT } from '../src/constants.js'
import { DatastoreLedger, fabricPeer, MAX_MESSAGE_SIZE, noopsEngine, Response, responseText, Transaction } from '../src/index.js'
import { RequestBudget, RequestBudgetError } from '../src/transaction/request-budget.js'
import { createNode, stopAll, waitFor } from './helpers/nodes.js'
import { startAttack } from './helpers/transaction-attacker.js'
import type { FabricNode } from './helpers/nodes.js'
import type { Libp2p } from '@libp2p/interface'

const MiB = 1024 * 1024
const running: Libp2p[] = []
/** What each test stops after it, even when it failed: attacks and samplers */
const stops: Array<() => Promise<void>> = []

afterEach(async () => {
  await Promise.all(stops.splice(0).map(async stop => stop()))
  await stopAll(running.splice(0))
})

function tx (id: string, payload = new TextEncoder().encode(`payload of ${id}`)): Transaction {
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new Uint8Array(0), payload, metadata: new Uint8Array(0), txid: id, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

interface Target {
  node: FabricNode
  /** The node's own accounting: bytes held by transaction requests now */
  held(): Promise<number>
  /** Requests refused for `reason` so far */
  refused(reason: 'budget' | 'deadline'): Promise<number>
}

/** A validator with an engine, and libp2p metrics to read its accounting from */
async function target (): Promise<Target> {
  const registry = new Registry()
  const datastore = new MemoryDatastore()
  const ledger = await new DatastoreLedger(datastore).open()
  const node: FabricNode = await createLibp2p({
    datastore,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 1000 },
    metrics: prometheusMetrics({ registry, collectDefaultMetrics: false }),
    services: { fabric: fabricPeer({ touchPeriod: 0, engine: noopsEngine({ ledger, logger: defaultLogger() }), ledger }) }
  })
  running.push(node)
  const read = async (name: string): Promise<number> => {
    const line = (await registry.metrics()).split('\n').find(l => l.startsWith(`${name} `))
    return line == null ? NaN : Number(line.slice(name.length + 1))
  }

  return {
    node,
    held: async () => read('libp2p_fabric_transaction_request_bytes'),
    refused: async (reason) => read(`libp2p_fabric_transaction_requests_refused_total{reason="${reason}"}`)
  }
}

/** An honest client with a connection of its own to `t` */
async function client (t: Target): Promise<FabricNode> {
  const node = await createNode({ fabric: { touchPeriod: 0 } })
  running.push(node)
  await node.dial(t.node.getMultiaddrs())
  return node
}

/** Samples the node's accounting and this process's RSS until stopped: the highest of each */
function sample (t: Target): { readonly held: number, readonly rss: number, stop(): Promise<void> } {
  const peak = { held: 0, rss: process.memoryUsage().rss }
  let sampling = true
  const done = (async () => {
    while (sampling) {
      peak.held = Math.max(peak.held, await t.held() || 0)
      peak.rss = Math.max(peak.rss, process.memoryUsage().rss)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  const stop = async (): Promise<void> => {
    sampling = false
    await done
  }
  stops.push(stop)

  return {
    get held () { return peak.held },
    get rss () { return peak.rss },
    stop
  }
}

describe('transaction request limits', () => {
  /*
   * A node in service has carried traffic: its heap and the allocator have
   * grown to it. Receiving this attack's bytes costs ~120 MiB of RSS by
   * itself (measured: the same streams with frames over maxMessageSize, which
   * the node refuses at the prefix and holds nothing for), garbage that V8
   * collects at its own pace. This process first carries that, so the growth
   * measured below is what the node holds, not what receiving costs.
   */
  before(async () => {
    const t = await target()
    const attack = await startAttack(t.node.getMultiaddrs(), { peers: 10, connectionsPerPeer: 1, streamsPerConnection: 32, announced: MAX_MESSAGE_SIZE + 1, send: MAX_MESSAGE_SIZE - 1024, trickle: 0 })
    await waitFor(() => attack.sent >= 64 * MiB, 'the warm-up traffic', 15_000).catch(() => {})
    await attack.stop()
    await stopAll(running.splice(0))
  })

  // 15 streams a connection: one is held, 14 refused, below the MAX_TRANSACTION_REFUSALS
  // that close a connection (test/hostile.test.ts shows that), so the node is under this load throughout
  it('10 connections × 15 streams of ~4 MiB frames that never end hold at most a connection\'s budget each, and honest transactions still succeed', async () => {
    const t = await target()
    const baseline = process.memoryUsage().rss
    const peak = sample(t)
    // just under 4 MiB announced and all but the last KiB sent; half the streams then trickle, half stop
    const announced = MAX_MESSAGE_SIZE - 64
    const attack = await startAttack(t.node.getMultiaddrs(), { peers: 10, connectionsPerPeer: 1, streamsPerConnection: 15, announced, send: announced - 1024, trickle: 200 })
    stops.push(attack.stop)

    // an honest client comes while the attack is in full swing
    await waitFor(() => attack.sent >= 40 * MiB, 'the attacker to get 40 MiB onto the wire', 15_000)
    const honest = await client(t)
    const small = await honest.services.fabric.sendTransactionToPeer(t.node.peerId, tx('honest'))
    const large = await honest.services.fabric.sendTransactionToPeer(t.node.peerId, tx('honest-large', new Uint8Array(MAX_MESSAGE_SIZE - 1024)))
    const heldMeanwhile = await t.held()

    // past the request deadline of every attacking stream
    await new Promise(resolve => setTimeout(resolve, TRANSACTION_REQUEST_TIMEOUT + 1_000))
    await peak.stop()
    const grown = (peak.rss - baseline) / MiB
    process.stdout.write(`# attacker sent ${(attack.sent / MiB).toFixed(0)} MiB; the node held at most ${(peak.held / MiB).toFixed(1)} MiB in transaction requests, ${(heldMeanwhile / MiB).toFixed(1)} MiB while the honest client was served; RSS +${grown.toFixed(0)} MiB\n`)

    assert.ok(grown < 200, `RSS grew by ${grown.toFixed(0)} MiB`)
    assert.equal(small.status, Response.StatusCode.SUCCESS, responseText(small))
    assert.equal(large.status, Response.StatusCode.SUCCESS, responseText(large))
    assert.ok(heldMeanwhile >= 10 * 3 * MiB, `the attack held only ${heldMeanwhile} bytes while the honest client was served`)
    // 10 attacking connections and the honest one, each within its budget
    assert.ok(peak.held <= 11 * MAX_TRANSACTION_REQUEST_BYTES_PER_CONNECTION, `held ${peak.held} bytes`)
    assert.ok(await t.refused('budget') >= 10 * 13, 'streams beyond a connection\'s budget were refused')
    assert.ok(await t.refused('deadline') >= 10, 'requests that never arrived whole were ended at the deadline')
    // nothing the attacker sent arrived whole, and all of it is released
    await waitFor(async () => await t.held() === 0, 'every attacking request to release its bytes', 5_000)
  })

  it('many connections from one or many peers hold no more than the node-wide budget, and late requests give their bytes back', async () => {
    const t = await target()
    const baseline = process.memoryUsage().rss
    const peak = sample(t)
    // 4 peers × 5 connections × 8 streams of ~1 MiB: 160 MiB if nothing refused them
    const attack = await startAttack(t.node.getMultiaddrs(), { peers: 4, connectionsPerPeer: 5, streamsPerConnection: 8, announced: MiB, send: MiB - 1024, trickle: 200 })
    stops.push(attack.stop)
    assert.equal(attack.connections, 20)

    await waitFor(() => peak.held >= MAX_TRANSACTION_REQUEST_BYTES - 2 * MiB, 'the node-wide budget to fill', 15_000)
    assert.ok(await t.refused('budget') > 0, 'requests over the node-wide budget were refused')

    // the attacker stays connected; its requests are ended at the deadline and release their bytes
    await waitFor(async () => await t.held() === 0, 'the request deadline to end every attacking stream', TRANSACTION_REQUEST_TIMEOUT + 5_000)
    assert.ok(await t.refused('deadline') > 0)
    await peak.stop()
    const grown = (peak.rss - baseline) / MiB
    process.stdout.write(`# attacker sent ${(attack.sent / MiB).toFixed(0)} MiB; the node held at most ${(peak.held / MiB).toFixed(1)} MiB of ${MAX_TRANSACTION_REQUEST_BYTES / MiB}; RSS +${grown.toFixed(0)} MiB\n`)
    assert.ok(peak.held <= MAX_TRANSACTION_REQUEST_BYTES, `held ${peak.held} bytes`)
    assert.ok(grown < 200, `RSS grew by ${grown.toFixed(0)} MiB`)

    const honest = await client(t)
    const res = await honest.services.fabric.sendTransactionToPeer(t.node.peerId, tx('after'))
    assert.equal(res.status, Response.StatusCode.SUCCESS, responseText(res))
  })
})

describe('RequestBudget', () => {
  it('a connection\'s requests hold and announce at most its limit; the node\'s limit counts only what is held', () => {
    const budget = new RequestBudget({ limit: 100, connectionLimit: 40, requestCost: 5 })
    const a = budget.open('c1')
    a.expect(30)
    const b = budget.open('c1')
    assert.throws(() => { b.expect(1) }, RequestBudgetError, 'announced bytes fill the connection\'s share')
    assert.throws(() => budget.open('c1'), RequestBudgetError, 'no room for another request on the connection')
    a.take(30)
    assert.equal(budget.heldBy('c1'), 40)
    assert.throws(() => { b.take(1) }, RequestBudgetError)

    // other connections: a prefix costs the node nothing until its bytes arrive
    const c = budget.open('c2')
    c.take(35)
    const d = budget.open('c3')
    d.expect(35)
    d.take(15)
    assert.equal(budget.held, 100)
    assert.throws(() => { d.take(1) }, RequestBudgetError, 'the node is full')

    for (const hold of [a, b, c, d]) hold.release()
    assert.equal(budget.held, 0)
    assert.equal(budget.heldBy('c1') + budget.heldBy('c2') + budget.heldBy('c3'), 0)
    budget.open('c1').expect(35)
  })
})
