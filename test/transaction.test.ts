import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { defaultLogger } from '@libp2p/logger'
import { MemoryDatastore } from 'datastore-core'
import { BlockOutOfOrderError, DatastoreLedger, noopsEngine, Response, responseText, TRANSACTION_PROTOCOL, Transaction } from '../src/index.js'
import { createNode, createRawNode, stopAll, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { FabricPeerInit, NoopsEngine } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

const FAST: FabricPeerInit = { discoveryPeriod: 200, touchPeriod: 300, dialBackoffInitial: 300 }
const running: Libp2p[] = []

afterEach(async () => { await stopAll(running.splice(0)) })

function tx (id: string): Transaction {
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new Uint8Array(0), payload: new TextEncoder().encode(`payload of ${id}`), metadata: new Uint8Array(0), txid: id, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

interface Validator { node: FabricNode, engine: NoopsEngine, ledger: DatastoreLedger, datastore: Datastore }

async function validator (init: FabricPeerInit = {}, datastore: Datastore = new MemoryDatastore()): Promise<Validator> {
  const ledger = await new DatastoreLedger(datastore).open()
  const engine = noopsEngine({ ledger, logger: defaultLogger() })
  const node = await createNode({ datastore, fabric: { ...FAST, ...init, engine, ledger } })
  running.push(node)
  return { node, engine, ledger, datastore }
}

async function nonValidator (init: FabricPeerInit = {}): Promise<FabricNode> {
  const node = await createNode({ fabric: { ...FAST, ...init, validator: false } })
  running.push(node)
  return node
}

describe('transactions', () => {
  it('transactions submitted at a non-validator reach every validator\'s ledger, in the same order', async () => {
    const first = await validator()
    const root = first.node.getMultiaddrs()[0].toString()
    const validators = [first, ...await Promise.all([1, 2, 3].map(async () => validator({ rootNodes: [root] })))]
    const nvp = await nonValidator({ rootNodes: [root] })
    await waitFor(() => validators.every(v => v.node.services.fabric.getPeers().peers.filter(p => p.type === 'VALIDATOR').length === 3) &&
      nvp.services.fabric.getPeers().peers.length >= 2, 'a validator mesh and the NVP connected', 20_000)

    for (let i = 0; i < 5; i++) {
      const res = await nvp.services.fabric.processTransaction(tx(`tx-${i}`))
      assert.equal(res.status, Response.StatusCode.SUCCESS, responseText(res))
    }

    await waitFor(() => validators.every(v => v.ledger.height === 5), 'every validator at height 5', 10_000)
    const heads = validators.map(v => Buffer.from(v.ledger.getBlockchainInfo().currentBlockHash).toString('hex'))
    assert.equal(new Set(heads).size, 1, 'validators ended on different chains')

    for (const v of validators) {
      const ids = await Promise.all([0, 1, 2, 3, 4].map(async n => (await v.ledger.getBlock(n))?.transactions[0]?.txid))
      assert.deepEqual(ids, ['tx-0', 'tx-1', 'tx-2', 'tx-3', 'tx-4'])
    }
  })

  it('with no validator connected the caller gets FAILURE and the reason', async () => {
    const nvp = await nonValidator()
    const res = await nvp.services.fabric.processTransaction(tx('lonely'))
    assert.equal(res.status, Response.StatusCode.FAILURE)
    assert.match(responseText(res), /no validator is connected/)
  })

  it('with no validator answering the caller gets FAILURE within transactionTimeout', async () => {
    // a validator whose engine never answers
    const stuck = await createNode({ fabric: { ...FAST, engine: { getHandlerFactory: () => () => ({ handleMessage () {}, sendMessage () {}, to: () => { throw new Error('unused') }, stop () {} }), processTransactionMessage: async () => new Promise<Response>(() => {}) } } })
    running.push(stuck)
    const nvp = await nonValidator({ rootNodes: [stuck.getMultiaddrs()[0].toString()], transactionTimeout: 800 })
    await waitFor(() => nvp.services.fabric.isEstablished(stuck.peerId), 'the NVP chat')

    const started = Date.now()
    const res = await nvp.services.fabric.processTransaction(tx('stuck'))
    const took = Date.now() - started

    assert.equal(res.status, Response.StatusCode.FAILURE)
    assert.match(responseText(res), /timed out after 800ms/)
    assert.ok(took >= 700 && took < 5_000, `answered after ${took}ms`)
  })

  it('a validator without an engine answers FAILURE instead of dropping the transaction', async () => {
    const bare = await createNode({ fabric: FAST })
    running.push(bare)
    const res = await bare.services.fabric.processTransaction(tx('no-engine'))
    assert.equal(res.status, Response.StatusCode.FAILURE)
    assert.match(responseText(res), /no engine/)
  })

  it('a malformed transaction frame is rejected without harming the node', async () => {
    const v = await validator()
    const raw = await createRawNode()
    running.push(raw)

    for (const bytes of [Uint8Array.of(3, 0x0f, 0x01, 0x02), new Uint8Array(32).fill(0xff), Uint8Array.of(0x80, 0x80, 0x80, 0x04)]) {
      const stream = await raw.dialProtocol(v.node.getMultiaddrs(), TRANSACTION_PROTOCOL)
      stream.send(bytes)
      await waitFor(() => stream.status !== 'open', 'the node to end the stream')
    }

    // the node still takes a good transaction, from a client that is in no chat with it
    const client = await createNode({ fabric: { touchPeriod: 0 } })
    running.push(client)
    await client.dial(v.node.getMultiaddrs())
    const res = await client.services.fabric.sendTransactionToPeer(v.node.peerId, tx('after-garbage'))

    assert.equal(res.status, Response.StatusCode.SUCCESS, responseText(res))
    assert.equal(v.ledger.height, 1)
  })

  it('a validator restarted on its datastore keeps its height and fetches the blocks it missed', async () => {
    const a = await validator()
    const root = a.node.getMultiaddrs()[0].toString()
    const b = await validator({ rootNodes: [root] })
    const c = await validator({ rootNodes: [root] })
    const all = [a, b, c]
    await waitFor(() => all.every(v => v.node.services.fabric.getPeers().peers.length === 2), 'a mesh of 3', 20_000)

    for (let i = 0; i < 3; i++) assert.equal((await b.node.services.fabric.processTransaction(tx(`before-${i}`))).status, Response.StatusCode.SUCCESS)
    await waitFor(() => all.every(v => v.ledger.height === 3), 'height 3 everywhere')

    await c.node.stop()
    for (let i = 0; i < 4; i++) assert.equal((await b.node.services.fabric.processTransaction(tx(`while-down-${i}`))).status, Response.StatusCode.SUCCESS)

    const back = await validator({ rootNodes: [root] }, c.datastore)
    assert.equal(back.ledger.height, 3, 'the height survived the restart')
    await waitFor(() => back.ledger.height === 7, 'the restarted validator to catch up', 10_000)
    assert.deepEqual(back.ledger.getBlockchainInfo().currentBlockHash, a.ledger.getBlockchainInfo().currentBlockHash)
  })
})

describe('DatastoreLedger', () => {
  it('appends blocks that extend the chain, refuses others, and survives reopening', async () => {
    const datastore = new MemoryDatastore()
    const ledger = await new DatastoreLedger(datastore).open()
    const block = (prev: Uint8Array, id: string): any => ({ version: 0, transactions: [tx(id)], stateHash: new Uint8Array(0), previousBlockHash: prev, consensusMetadata: new Uint8Array(0) })

    const genesis = await ledger.append(block(new Uint8Array(0), 'a'))
    assert.equal(genesis.height, 1)
    await ledger.append(block(genesis.currentBlockHash, 'b'))
    await assert.rejects(ledger.append(block(genesis.currentBlockHash, 'fork')), BlockOutOfOrderError)

    const reopened = await new DatastoreLedger(datastore).open()
    assert.equal(reopened.height, 2)
    assert.deepEqual(reopened.getBlockchainInfo(), ledger.getBlockchainInfo())
    assert.equal((await reopened.getBlock(1))?.transactions[0].txid, 'b')
    assert.equal(await reopened.getBlock(2), undefined)
  })
})
