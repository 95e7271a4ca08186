import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { createMessage, MAX_MESSAGE_SIZE, Message, PeerEndpoint, Response, SyncBlockRange, SyncBlocks, Transaction } from '../src/index.js'
import { tx, validator } from './helpers/chain.js'
import { FakePeer } from './helpers/fake-peer.js'
import { stoppedAfterEach, waitFor } from './helpers/nodes.js'
import type { Validator } from './helpers/chain.js'
import type { PrivateKey } from '@libp2p/interface'

const { track } = stoppedAfterEach()

async function started (v: Promise<Validator>): Promise<Validator> {
  const got = await v
  track(got.node)
  return got
}

const head = (v: Validator): string => Buffer.from(v.ledger.getBlockchainInfo().currentBlockHash).toString('hex')

async function states (v: Validator): Promise<string> {
  const entries = await v.ledger.getStateEntries()
  return JSON.stringify(entries.map(e => [e.key, Buffer.from(e.value).toString('hex')]))
}

/** Ed25519 keys, smallest PeerId (by multihash bytes, the noops order) first */
async function sortedKeys (n: number): Promise<PrivateKey[]> {
  const keys = await Promise.all(Array.from({ length: n }, async () => generateKeyPair('Ed25519')))
  return keys.sort((a, b) => uint8ArrayCompare(peerIdFromPrivateKey(a).toMultihash().bytes, peerIdFromPrivateKey(b).toMultihash().bytes))
}

describe('catching up through RemoteLedger', () => {
  it('a validator 10 000 blocks behind catches up, blocks of mixed sizes up to maxMessageSize', async () => {
    // mostly 1 KiB, a 900 KB block every 1 000, one block as large as a frame allows, some key=value blocks
    const sizes: number[] = Array.from({ length: 10_000 }, (_, i) => i % 1000 === 999 ? 900_000 : i % 7 === 0 ? 0 : 1024)
    sizes[5_000] = MAX_MESSAGE_SIZE - 2048
    const ahead = await started(validator({}, { sizes }))
    const behind = await started(validator())

    const began = Date.now()
    await behind.node.services.fabric.chatWithPeer(ahead.node.getMultiaddrs())
    await waitFor(() => behind.ledger.height === 10_000, 'the new validator at height 10 000', 60_000)
    const seconds = (Date.now() - began) / 1000

    assert.equal(head(behind), head(ahead), 'the same chain')
    assert.equal(await states(behind), await states(ahead), 'the same world state, from executing the blocks')
    assert.equal(behind.engine.usage().caughtUp, 10_000, 'every block came by catching up')
    assert.deepEqual((await behind.ledger.getBlock(5_000))?.transactions[0].payload.byteLength, MAX_MESSAGE_SIZE - 2048)
    assert.equal(behind.engine.usage().catchingUp, false)

    // caught up, it takes part: a transaction at it is in both ledgers
    const res = await behind.node.services.fabric.processTransaction(tx('after-catch-up'))
    assert.equal(res.status, Response.StatusCode.SUCCESS, new TextDecoder().decode(res.msg))
    await waitFor(async () => (await ahead.ledger.findTransaction('after-catch-up')) === 10_000, 'the transaction in the other ledger')
    assert.equal(await behind.ledger.findTransaction('after-catch-up'), 10_000)
    process.stderr.write(`# caught up 10 000 blocks (${(sizes.reduce((a, b) => a + b, 0) / 2 ** 20).toFixed(1)} MiB) in ${seconds.toFixed(1)} s\n`)
  })

  it('six 900 KB transactions, then a fresh validator with the smallest PeerId joins: it catches up and the network goes on', async () => {
    const [smallest, k1, k2] = await sortedKeys(3)
    const a = await started(validator({}, { privateKey: k1 }))
    const b = await started(validator({}, { privateKey: k2 }))
    await a.node.services.fabric.chatWithPeer(b.node.getMultiaddrs())

    for (let i = 0; i < 6; i++) {
      const res = await a.node.services.fabric.processTransaction(tx(`big-${i}`, new Uint8Array(900_000).fill(i)))
      assert.equal(res.status, Response.StatusCode.SUCCESS, new TextDecoder().decode(res.msg))
    }

    await waitFor(() => b.ledger.height === 6, 'both at height 6')

    // over 4 MiB of blocks: one answer could never carry them
    const joiner = await started(validator({}, { privateKey: smallest }))
    await joiner.node.services.fabric.chatWithPeer(a.node.getMultiaddrs())
    await joiner.node.services.fabric.chatWithPeer(b.node.getMultiaddrs())
    await waitFor(() => joiner.ledger.height === 6, 'the joiner caught up', 20_000)
    assert.equal(joiner.engine.sequencer(), undefined, 'the joiner sorts first: it is the sequencer now')

    for (const [i, v] of [a, b, joiner].entries()) {
      const res = await v.node.services.fabric.processTransaction(tx(`after-join-${i}`))
      assert.equal(res.status, Response.StatusCode.SUCCESS, new TextDecoder().decode(res.msg))
    }

    await waitFor(() => [a, b, joiner].every(v => v.ledger.height === 9), 'all at height 9')
    assert.equal(new Set([a, b, joiner].map(head)).size, 1, 'one chain')
  })

  for (const behaviour of ['garbage', 'silence'] as const) {
    it(`a validator that answers sync requests with ${behaviour} does not stall the catch-up: another validator is asked`, async () => {
      const honest = await started(validator({}, { sizes: Array.from({ length: 300 }, () => 512) }))
      const behind = await started(validator())
      const liar = track(await FakePeer.create())
      const asked: SyncBlockRange[] = []
      liar.onMessage = (msg) => {
        if (msg.type !== Message.Type.SYNC_GET_BLOCKS) return
        const range = SyncBlockRange.decode(msg.payload)
        asked.push(range)
        if (behaviour === 'garbage') {
          // numbers that were not asked for, and blocks that are not blocks of this chain
          liar.send(createMessage(Message.Type.SYNC_BLOCKS, SyncBlocks.encode({ range: { correlationId: range.correlationId, start: range.start + 7, end: range.start + 7 }, blocks: [{ version: 9, transactions: [], stateHash: new Uint8Array(3), previousBlockHash: new Uint8Array(5), consensusMetadata: new Uint8Array(0) }] })))
        }
      }

      // the liar claims more than the honest validator has, so it is asked first
      await liar.hello(behind.node.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR, { height: 400, currentBlockHash: new Uint8Array(32).fill(1), previousBlockHash: new Uint8Array(0) })
      await waitFor(() => asked.length > 0, 'the liar to be asked for blocks')
      const began = Date.now()
      await behind.node.services.fabric.chatWithPeer(honest.node.getMultiaddrs())
      await waitFor(() => behind.ledger.height === 300, 'caught up from the honest validator', 15_000)
      await waitFor(() => !behind.engine.usage().catchingUp, 'the catch-up over')
      const took = Date.now() - began

      assert.equal(head(behind), head(honest))
      assert.ok(behind.engine.usage().distrusted.some(d => d.peer === liar.node.peerId.toString()), 'the liar is passed over')
      assert.ok(took < 10_000, `caught up in ${took} ms`)

      const res = await behind.node.services.fabric.processTransaction(tx(`after-${behaviour}`))
      assert.equal(res.status, Response.StatusCode.SUCCESS, new TextDecoder().decode(res.msg))
      assert.equal(await behind.ledger.findTransaction(`after-${behaviour}`), 300)
    })
  }

  it('queries read the world state and append nothing; a txid is used once', async () => {
    const a = await started(validator())
    const set = await a.node.services.fabric.processTransaction(tx('set-colour', 'colour=blue'))
    assert.equal(set.status, Response.StatusCode.SUCCESS)
    const height = a.ledger.height

    const query = await a.node.services.fabric.processTransaction({ ...tx('q-1', 'colour'), type: Transaction.Type.CHAINCODE_QUERY })
    assert.equal(query.status, Response.StatusCode.SUCCESS)
    assert.equal(new TextDecoder().decode(query.msg), 'blue')
    assert.equal(a.ledger.height, height, 'a query appends nothing')

    const again = await a.node.services.fabric.processTransaction(tx('set-colour', 'colour=red'))
    assert.equal(again.status, Response.StatusCode.FAILURE)
    assert.match(new TextDecoder().decode(again.msg), /already in block 0/)
    assert.equal(a.ledger.height, height, 'a repeated txid appends nothing')
  })
})
