/**
 * RemoteLedger (src/sync/): a node reads a peer's blocks, state deltas and
 * state snapshot over the chat, through real libp2p nodes on 127.0.0.1.
 * Answers are split to fit maxMessageSize and arrive in the asked order;
 * several requests share one chat; a ledger that has less than asked (or no
 * serving methods at all) answers at once. Peers that misbehave are plain
 * libp2p nodes writing frames by hand (FakePeer), as the answering side (wrong
 * numbers, silence, garbage, unsolicited answers) and as the asking side (many
 * requests for big ranges, reading nothing).
 */

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { MemoryDatastore } from 'datastore-core'
import { MAX_SYNC_RANGE, MAX_SYNC_REQUESTS_IN_FLIGHT } from '../src/constants.js'
import { Block, blockHash, ChatClosedError, createMessage, DatastoreLedger, InvalidSyncAnswerError, MAX_MESSAGE_SIZE, Message, StateDelta, SyncBlockRange, SyncBlocks, SyncStateDeltas, Transaction } from '../src/index.js'
import { FakePeer } from './helpers/fake-peer.js'
import { nextEvent, stoppedAfterEach, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { BlockRange, FabricPeerInit, FabricUsage, RemoteLedger, StateEntry, SyncRequestOptions, SyncStateSnapshot } from '../src/index.js'

const { track, node } = stoppedAfterEach()

const KiB = 1024
const MiB = 1024 * KiB

// chain building ------------------------------------------------------------

function tx (txid: string, payload: Uint8Array<ArrayBuffer>): Transaction {
  return { type: Transaction.Type.CHAINCODE_INVOKE, chaincodeID: new TextEncoder().encode('cc'), payload, metadata: new Uint8Array(0), txid, nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
}

/** Block `n` with one transaction of `payloadBytes` random bytes: no two blocks encode alike, so a swapped or repeated block cannot compare equal */
function makeBlock (previousBlockHash: Uint8Array, n: number, payloadBytes: number): Block {
  return {
    version: 0,
    timestamp: { seconds: 1_700_000_000 + n, nanos: 0 },
    transactions: [tx(`block-${n}`, new Uint8Array(randomBytes(payloadBytes)))],
    stateHash: new Uint8Array(0),
    previousBlockHash: previousBlockHash as Uint8Array<ArrayBuffer>,
    consensusMetadata: new Uint8Array(0)
  }
}

/** The payload size that makes block `n`'s encoding exactly `blockBytes` long */
function payloadForBlockOf (blockBytes: number, n: number): number {
  const hash = new Uint8Array(32)
  let payload = blockBytes - 200
  payload += blockBytes - Block.encode(makeBlock(hash, n, payload)).byteLength
  assert.equal(Block.encode(makeBlock(hash, n, payload)).byteLength, blockBytes)
  return payload
}

/**
 * Append blocks with one transaction of each of `sizes` bytes to `ledger`: in
 * one batch, or, with deltas (`delta(n)`), one append per block as a node
 * makes them
 */
async function appendChain (ledger: DatastoreLedger, sizes: number[], delta?: (n: number) => StateDelta): Promise<void> {
  const blocks: Array<{ block: Block, delta?: StateDelta, hash: Uint8Array }> = []
  let previous: Uint8Array = ledger.getBlockchainInfo().currentBlockHash

  for (const [i, size] of sizes.entries()) {
    const n = ledger.height + i
    const block = makeBlock(previous, n, size)
    const hash = await blockHash(block)
    blocks.push({ block, delta: delta?.(n), hash })
    previous = hash
  }

  if (delta == null) {
    await ledger.appendBlocks(blocks)
    return
  }

  for (const block of blocks) {
    await ledger.appendBlocks([block])
  }
}

async function ledgerWith (sizes: number[], delta?: (n: number) => StateDelta): Promise<DatastoreLedger> {
  const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
  await appendChain(ledger, sizes, delta)
  return ledger
}

/**
 * A world state written by `count` blocks: each puts 3 keys (values of 200 to
 * 1 600 bytes; keys with '/', unicode, an empty value) and most delete one,
 * some a key that was never written. `expected` is the state they leave.
 */
function stateHistory (count: number): { delta: (n: number) => StateDelta, expected: StateEntry[], rewritten: number } {
  // a fixed seed: the same history on every run
  let seed = 0x2545f491
  const random = (): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
    return (seed >>> 0) / 2 ** 32
  }
  const families = [(k: number) => `asset/${k}`, (k: number) => `ünïcødé/${k}/名前`, (k: number) => `emoji/🚀/${k}`, (k: number) => `a/b/c/${k}/d e%f`]
  const key = (): string => families[Math.floor(random() * families.length)](Math.floor(random() * 80))
  const deltas: StateDelta[] = []
  const state = new Map<string, Uint8Array<ArrayBuffer>>()
  const deleted = new Set<string>()
  let rewritten = 0

  for (let n = 0; n < count; n++) {
    const entries: StateEntry[] = []

    for (let i = 0; i < 3; i++) {
      const value = Uint8Array.from({ length: 200 + Math.floor(random() * 1_400) }, () => Math.floor(random() * 256))
      entries.push({ key: key(), value, deleted: false })
    }

    if (n === 7) entries.push({ key: 'empty value', value: new Uint8Array(0), deleted: false })
    if (n % 4 !== 0) entries.push({ key: key(), value: new Uint8Array(0), deleted: true })
    if (n % 17 === 0) entries.push({ key: `never written/${n}`, value: new Uint8Array(0), deleted: true })

    for (const entry of entries) {
      if (entry.deleted) {
        if (state.delete(entry.key)) deleted.add(entry.key)
      } else {
        if (deleted.delete(entry.key)) rewritten++
        state.set(entry.key, entry.value)
      }
    }

    deltas.push({ entries })
  }

  const expected = [...state.entries()]
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([key, value]) => ({ key, value, deleted: false }))

  return { delta: (n) => deltas[n], expected, rewritten }
}

// nodes -----------------------------------------------------------------------

/** A node serving `ledger`, and a node chatting with it; the asker's RemoteLedger for it */
async function pair (ledger: FabricPeerInit['ledger'], init: FabricPeerInit = {}): Promise<{ server: FabricNode, client: FabricNode, remote: RemoteLedger }> {
  const server = await node({ ...init, ledger })
  const client = await node(init)
  await client.services.fabric.chatWithPeer(server.getMultiaddrs())
  return { server, client, remote: client.services.fabric.getRemoteLedger(server.peerId) }
}

/** A FakePeer with an established chat with `target` */
async function attackerOf (target: FabricNode): Promise<FakePeer> {
  const fake = track(await FakePeer.create())
  await fake.hello(target.getMultiaddrs())
  await waitFor(() => target.services.fabric.isEstablished(fake.node.peerId), 'the chat with the fake peer')
  return fake
}

// reading answers -------------------------------------------------------------

/** Every frame of an answer, in order; `onFrame` sees each as it arrives (and may delay the next) */
async function collect<T> (answer: AsyncIterable<T>, onFrame?: (frame: T, index: number) => unknown): Promise<T[]> {
  const frames: T[] = []

  for await (const frame of answer) {
    frames.push(frame)
    await onFrame?.(frame, frames.length - 1)
  }

  return frames
}

/** The numbers a range answer's frames name, checking each frame names as many as it carries, in the request's direction */
function numbersOf (frames: Array<{ range?: SyncBlockRange }>, count: (frame: any) => number, step: 1 | -1): number[] {
  const numbers: number[] = []

  for (const frame of frames) {
    const n = count(frame)
    assert.ok(frame.range != null && n > 0, 'a frame without a range or items was yielded')
    assert.equal(frame.range.end, frame.range.start + (n - 1) * step, `frame ${frame.range.start}-${frame.range.end} carries ${n} items`)
    for (let i = 0; i < n; i++) numbers.push(frame.range.start + i * step)
  }

  return numbers
}

function span (start: number, end: number): number[] {
  const step = start <= end ? 1 : -1
  return Array.from({ length: Math.abs(end - start) + 1 }, (_, i) => start + i * step)
}

/** Fetch `range` of blocks and check every one is byte-equal to `ledger`'s, in order; the frames */
async function fetchBlocksChecked (remote: RemoteLedger, ledger: DatastoreLedger, range: BlockRange, options?: SyncRequestOptions, onFrame?: (frame: SyncBlocks, index: number) => unknown): Promise<SyncBlocks[]> {
  const frames = await collect(remote.requestBlocks(range, options), onFrame)
  const step = range.start <= range.end ? 1 : -1
  const numbers = numbersOf(frames, (f: SyncBlocks) => f.blocks.length, step)
  assert.deepEqual(numbers, span(range.start, range.end), `blocks ${range.start}-${range.end}`)
  const blocks = frames.flatMap(f => f.blocks)

  for (const [i, block] of blocks.entries()) {
    const stored = await ledger.getEncodedBlock(numbers[i])
    assert.ok(stored != null)
    assert.ok(Buffer.from(Block.encode(block)).equals(stored), `block ${numbers[i]} differs from the server's`)
  }

  return frames
}

/** Fetch `range` of state deltas and check each is the one `ledger` holds for its block; the decoded deltas */
async function fetchDeltasChecked (remote: RemoteLedger, ledger: DatastoreLedger, range: BlockRange, options?: SyncRequestOptions): Promise<StateDelta[]> {
  const frames = await collect(remote.requestStateDeltas(range, options))
  const step = range.start <= range.end ? 1 : -1
  const numbers = numbersOf(frames, (f: SyncStateDeltas) => f.deltas.length, step)
  assert.deepEqual(numbers, span(range.start, range.end), `deltas ${range.start}-${range.end}`)
  const deltas = frames.flatMap(f => f.deltas).map(bytes => StateDelta.decode(bytes))

  for (const [i, delta] of deltas.entries()) {
    sameEntries(delta.entries, (await ledger.getStateDelta(numbers[i]))?.entries ?? [], `delta ${numbers[i]}`)
  }

  return deltas
}

/** A snapshot's chunks: numbered from 0 at one block, only the last empty; their entries */
function snapshotEntries (chunks: SyncStateSnapshot[]): { entries: StateEntry[], blockNumber: number } {
  assert.ok(chunks.length > 0, 'no snapshot chunk')
  chunks.forEach((chunk, i) => {
    assert.equal(chunk.sequence, i)
    assert.equal(chunk.blockNumber, chunks[0].blockNumber)
    assert.equal(chunk.delta.byteLength === 0, i === chunks.length - 1, `chunk ${i} of ${chunks.length} is ${chunk.delta.byteLength === 0 ? '' : 'not '}empty`)
  })
  return { entries: chunks.flatMap(chunk => StateDelta.decode(chunk.delta).entries), blockNumber: chunks[0].blockNumber }
}

/**
 * Whether two lists of state entries are the same, in any order (a snapshot
 * comes in the datastore's order), saying where they first differ (deepEqual's
 * diff of thousands of byte arrays takes minutes to build)
 */
function sameEntries (unsorted: StateEntry[], expectedUnsorted: StateEntry[], what: string): void {
  const byKey = (a: StateEntry, b: StateEntry): number => a.key < b.key ? -1 : a.key > b.key ? 1 : 0
  const actual = [...unsorted].sort(byKey)
  const expected = [...expectedUnsorted].sort(byKey)
  const describe = (e?: StateEntry): string => e == null ? 'nothing' : `${JSON.stringify(e.key)} = ${e.value.byteLength} bytes${e.deleted ? ' (deleted)' : ''}`

  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i]
    const e = expected[i]

    if (a?.key !== e?.key || a?.deleted !== e?.deleted || a == null || e == null || !Buffer.from(a.value).equals(e.value)) {
      assert.fail(`${what}: entry ${i} of ${actual.length} is ${describe(a)}, where ${describe(e)} of ${expected.length} was expected`)
    }
  }
}

async function stateOf (ledger: DatastoreLedger): Promise<StateEntry[]> {
  return ledger.getStateEntries()
}

async function elapsed<T> (fn: () => Promise<T>): Promise<{ ms: number, result: T }> {
  const start = Date.now()
  const result = await fn()
  return { ms: Date.now() - start, result }
}

// hand-written frames ---------------------------------------------------------

function blocksFrame (correlationId: number, start: number, end: number, blocks: Block[]): Message {
  return createMessage(Message.Type.SYNC_BLOCKS, SyncBlocks.encode({ range: { correlationId, start, end }, blocks }))
}

/** Blocks for an attacker to send: well formed, the numbers are whatever its frame says */
function fakeBlocks (count: number): Block[] {
  return Array.from({ length: count }, (_, n) => makeBlock(new Uint8Array(32), n, 64))
}

/** The SYNC_GET_BLOCKS requests a fake peer has received so far */
function blockRequests (fake: FakePeer): SyncBlockRange[] {
  return fake.received.filter(m => m.type === Message.Type.SYNC_GET_BLOCKS).map(m => SyncBlockRange.decode(m.payload))
}

/** The `index`th SYNC_GET_BLOCKS the fake peer receives */
async function blockRequest (fake: FakePeer, index: number): Promise<SyncBlockRange> {
  await waitFor(() => blockRequests(fake).length > index, `request ${index} at the fake peer`, 5_000)
  return blockRequests(fake)[index]
}

// -----------------------------------------------------------------------------

describe('RemoteLedger', () => {
  it('blocks of every size up to a frame arrive byte-equal, split into frames that each fit maxMessageSize', async () => {
    // the largest block a frame can carry with room to spare: maxMessageSize less 2 KiB
    const largest = payloadForBlockOf(MAX_MESSAGE_SIZE - 2 * KiB, 9)
    const sizes = [0, 10, 900_000, 900_000, 900_000, 900_000, 900_000, 900_000, 1, largest, 100_000, 3_000_000, 900_000, 5, 2_000_000, 2_000_000, 300]
    const ledger = await ledgerWith(sizes)
    assert.equal((await ledger.getEncodedBlock(9))?.byteLength, MAX_MESSAGE_SIZE - 2 * KiB)
    const { server, client, remote } = await pair(ledger)

    // every SYNC_BLOCKS as it came off the wire
    const wire: number[] = []
    client.services.fabric.addEventListener('message', (evt) => {
      if (evt.detail.message.type === Message.Type.SYNC_BLOCKS && evt.detail.peerId.equals(server.peerId)) wire.push(Message.encode(evt.detail.message).byteLength)
    })

    const all = await fetchBlocksChecked(remote, ledger, { start: 0, end: sizes.length - 1 })
    const total = sizes.reduce((a, b) => a + b, 0)
    assert.equal(wire.length, all.length, 'frames yielded and frames received differ')
    assert.ok(wire.every(bytes => bytes <= MAX_MESSAGE_SIZE), `a frame over maxMessageSize: ${wire.join(', ')}`)
    assert.ok(all.length >= Math.ceil(total / MAX_MESSAGE_SIZE), `${total} bytes of blocks in ${all.length} frames`)

    // the case: 6 transactions of 900 KB, 5.4 MB in all, must come split
    wire.length = 0
    const six = await fetchBlocksChecked(remote, ledger, { start: 2, end: 7 })
    assert.ok(six.length >= 2, `6 blocks of 900 KB in ${six.length} frame`)
    assert.equal(wire.length, six.length)
    assert.ok(wire.every(bytes => bytes <= MAX_MESSAGE_SIZE), `a frame over maxMessageSize: ${wire.join(', ')}`)

    // the largest block alone, ascending and descending around it
    await fetchBlocksChecked(remote, ledger, { start: 9, end: 9 })
    await fetchBlocksChecked(remote, ledger, { start: 10, end: 8 })
  })

  it('a descending range (start > end) arrives in descending order', async () => {
    const sizes = Array.from({ length: 24 }, (_, n) => n % 5 === 0 ? 1_500_000 : 1_000 * n)
    const ledger = await ledgerWith(sizes)
    const { remote } = await pair(ledger)

    const all = await fetchBlocksChecked(remote, ledger, { start: 23, end: 0 })
    assert.ok(all.length >= 2, 'one frame: the order within frames was not put to the test')
    assert.ok(all.every(frame => frame.range!.start >= frame.range!.end))
    await fetchBlocksChecked(remote, ledger, { start: 17, end: 9 })
    await fetchDeltasChecked(remote, ledger, { start: 20, end: 3 })
  })

  it('six requests at once on one chat (blocks, deltas, a snapshot) all complete: the asker keeps at most 4 in flight', async () => {
    const { delta, expected } = stateHistory(100)
    const ledger = await ledgerWith(Array.from({ length: 100 }, () => 20 * KiB), delta)
    // small frames: every answer takes many, so the requests overlap
    const { remote } = await pair(ledger, { maxMessageSize: 64 * KiB })
    const chat = remote as RemoteLedger & { inFlight: number }
    let most = 0
    const watch = (): void => { most = Math.max(most, chat.inFlight) }
    // a consumer that takes its time, so the requests overlap however fast the network is
    const slowly = async (): Promise<void> => { watch(); await new Promise(resolve => setTimeout(resolve, 2)) }

    const [, , , , snapshot] = await Promise.all([
      fetchBlocksChecked(remote, ledger, { start: 0, end: 99 }, {}, slowly),
      fetchBlocksChecked(remote, ledger, { start: 99, end: 0 }, {}, slowly),
      fetchDeltasChecked(remote, ledger, { start: 0, end: 99 }),
      fetchDeltasChecked(remote, ledger, { start: 80, end: 20 }),
      collect(remote.requestStateSnapshot(), slowly),
      fetchBlocksChecked(remote, ledger, { start: 10, end: 60 }, {}, slowly)
    ])

    const { entries, blockNumber } = snapshotEntries(snapshot)
    sameEntries(entries, expected, 'the snapshot')
    assert.equal(blockNumber, 99)
    assert.equal(most, MAX_SYNC_REQUESTS_IN_FLIGHT, `at most ${most} requests were in flight at once`)
    assert.equal(chat.inFlight, 0)
  })

  it('a consumer that stops early frees its request: later requests on the chat are served in full', async () => {
    const ledger = await ledgerWith(Array.from({ length: 300 }, () => 20 * KiB))
    const { remote } = await pair(ledger, { maxMessageSize: 64 * KiB })

    // more requests given up after a frame than may be in flight: each must free its slot
    for (let i = 0; i < MAX_SYNC_REQUESTS_IN_FLIGHT + 2; i++) {
      let frames = 0
      for await (const frame of remote.requestBlocks({ start: 0, end: 299 }, { signal: AbortSignal.timeout(5_000) })) {
        assert.equal(frame.range?.start, 0)
        frames++
        break
      }
      assert.equal(frames, 1, `request ${i + 1}, after ${i} given up, was answered empty`)
    }

    // a given-up request keeps its slot until the peer has sent its last frame for it (there is no cancel on the wire)
    await waitFor(() => (remote as RemoteLedger & { inFlight: number }).inFlight === 0, 'the given-up answers to end', 5_000)
    await fetchBlocksChecked(remote, ledger, { start: 0, end: 299 })
  })

  /**
   * A serves 200 blocks with their deltas; B fetches the blocks, appends them
   * and installs A's snapshot; C appends the blocks with the deltas fetched
   * for them. `existing` gives B some state first, which the snapshot must
   * replace; `oneBatch` has C append all blocks in one appendBlocks.
   */
  async function roundTrip ({ existing, oneBatch }: { existing: boolean, oneBatch: boolean }): Promise<void> {
    const count = 200
    const { delta, expected, rewritten } = stateHistory(count)
    const serverLedger = await ledgerWith(Array.from({ length: count }, (_, n) => 100 + n), delta)
    sameEntries(await stateOf(serverLedger), expected, 'the server\'s state')
    assert.ok(expected.length > 150 && expected.some(e => e.key.includes('名前')) && expected.some(e => e.value.byteLength === 0))
    assert.ok(rewritten > 0, 'no key is deleted and written again: the order of writes is not put to the test')

    const clientLedger = await new DatastoreLedger(new MemoryDatastore()).open()
    if (existing) {
      // a key the snapshot lacks (to go), two it has with other values (to be overwritten)
      await clientLedger.applyStateDelta({ entries: [{ key: 'stale/key', value: Uint8Array.of(1), deleted: false }, ...[expected[0], expected[5]].map(e => ({ key: e.key, value: Uint8Array.of(2), deleted: false }))] })
    }
    const { remote } = await pair(serverLedger, { maxMessageSize: 64 * KiB })

    // B: the blocks, then the snapshot
    const blocks = (await fetchBlocksChecked(remote, serverLedger, { start: 0, end: count - 1 })).flatMap(f => f.blocks)
    await clientLedger.appendBlocks(blocks.map(block => ({ block })))
    assert.deepEqual(clientLedger.getBlockchainInfo(), serverLedger.getBlockchainInfo())
    const chunks = await collect(remote.requestStateSnapshot())
    assert.ok(chunks.length > 3, `the snapshot came in ${chunks.length} chunks: one with data is no test of chunking`)
    const snapshot = snapshotEntries(chunks)
    assert.equal(snapshot.blockNumber, count - 1)
    sameEntries(snapshot.entries, expected, 'the snapshot')
    await clientLedger.replaceState(snapshot.entries)

    // C: the blocks with the deltas fetched for them
    const deltas = await fetchDeltasChecked(remote, serverLedger, { start: 0, end: count - 1 })
    const replayLedger = await new DatastoreLedger(new MemoryDatastore()).open()
    const appends = blocks.map((block, n) => ({ block, delta: deltas[n] }))
    if (oneBatch) await replayLedger.appendBlocks(appends)
    else for (const append of appends) await replayLedger.appendBlocks([append])

    sameEntries(await stateOf(clientLedger), expected, 'the installed snapshot')
    sameEntries(await stateOf(replayLedger), expected, 'the replayed deltas')
    assert.deepEqual(replayLedger.getBlockchainInfo(), serverLedger.getBlockchainInfo())
    sameEntries((await replayLedger.getStateDelta(150))!.entries, (await serverLedger.getStateDelta(150))!.entries, 'delta 150')
  }

  it('world state round trip: a snapshot installed, or the deltas replayed block by block, give the server\'s state', async () => {
    await roundTrip({ existing: false, oneBatch: false })
  })

  it('world state round trip onto a ledger with state of its own, and with the fetched blocks appended in one batch', async () => {
    await roundTrip({ existing: true, oneBatch: true })
  })

  it('a range beyond the chain ends with what there is, and a ledger without the methods answers empty at once', async () => {
    const ledger = await ledgerWith(Array.from({ length: 10 }, () => 100), (n) => ({ entries: [{ key: `k${n}`, value: Uint8Array.of(n), deleted: false }] }))
    const { remote } = await pair(ledger)

    // default timeout (10 s): an answer that ends early ends at once, it does not wait that out
    const beyond = await elapsed(async () => collect(remote.requestBlocks({ start: 0, end: 50 })))
    assert.deepEqual(numbersOf(beyond.result, (f: SyncBlocks) => f.blocks.length, 1), span(0, 9))
    assert.ok(beyond.ms < 2_000, `took ${beyond.ms} ms`)
    const deltas = await collect(remote.requestStateDeltas({ start: 5, end: 50 }))
    assert.deepEqual(numbersOf(deltas, (f: SyncStateDeltas) => f.deltas.length, 1), span(5, 9))
    assert.deepEqual(await collect(remote.requestBlocks({ start: 10, end: 20 })), [])

    // the default ledger (MemoryLedger) serves nothing
    const bare = await node()
    const asker = await node()
    await asker.services.fabric.chatWithPeer(bare.getMultiaddrs())
    const none = asker.services.fabric.getRemoteLedger(bare.peerId)
    const blocks = await elapsed(async () => collect(none.requestBlocks({ start: 0, end: 10 })))
    const noDeltas = await elapsed(async () => collect(none.requestStateDeltas({ start: 3, end: 0 })))
    const snapshot = await elapsed(async () => collect(none.requestStateSnapshot()))
    assert.deepEqual(blocks.result, [])
    assert.deepEqual(noDeltas.result, [])
    assert.deepEqual(snapshotEntries(snapshot.result), { entries: [], blockNumber: 0 })
    for (const { ms } of [blocks, noDeltas, snapshot]) assert.ok(ms < 1_000, `an empty answer took ${ms} ms`)
  })

  it(`a range longer than MAX_SYNC_RANGE (${MAX_SYNC_RANGE}) is served in part, the rest named in an empty frame`, async () => {
    const count = MAX_SYNC_RANGE + 50
    const ledger = await ledgerWith(Array.from({ length: count }, () => 8))
    const { server, client, remote } = await pair(ledger)
    const empties: Array<{ start: number, end: number }> = []
    client.services.fabric.addEventListener('message', (evt) => {
      if (!evt.detail.peerId.equals(server.peerId) || evt.detail.message.type !== Message.Type.SYNC_BLOCKS) return
      const frame = SyncBlocks.decode(evt.detail.message.payload)
      if (frame.blocks.length === 0) empties.push({ start: frame.range!.start, end: frame.range!.end })
    })

    const up = await fetchBlocksChecked(remote, ledger, { start: 0, end: MAX_SYNC_RANGE - 1 })
    assert.equal(up.flatMap(f => f.blocks).length, MAX_SYNC_RANGE)
    assert.deepEqual(empties, [], 'a range of exactly MAX_SYNC_RANGE got an empty frame')

    const whole = await collect(remote.requestBlocks({ start: 0, end: count - 1 }))
    assert.deepEqual(numbersOf(whole, (f: SyncBlocks) => f.blocks.length, 1), span(0, MAX_SYNC_RANGE - 1))
    const down = await collect(remote.requestBlocks({ start: count - 1, end: 0 }))
    assert.deepEqual(numbersOf(down, (f: SyncBlocks) => f.blocks.length, -1), span(count - 1, count - MAX_SYNC_RANGE))
    const deltas = await collect(remote.requestStateDeltas({ start: 0, end: count - 1 }))
    assert.equal(deltas.flatMap(f => f.deltas).length, MAX_SYNC_RANGE)
    await waitFor(() => empties.length === 2, 'the two empty block frames')
    assert.deepEqual(empties, [{ start: MAX_SYNC_RANGE, end: count - 1 }, { start: count - 1 - MAX_SYNC_RANGE, end: 0 }])

    // the asker asks again for the rest
    await fetchBlocksChecked(remote, ledger, { start: MAX_SYNC_RANGE, end: count - 1 })
  })

  describe('a peer that answers wrongly', () => {
    it('answers that do not fit the request fail it with InvalidSyncAnswerError; the chat goes on', async () => {
      const asker = await node()
      const fake = await attackerOf(asker)
      const remote = asker.services.fabric.getRemoteLedger(fake.node.peerId)
      const blocks = fakeBlocks(4)
      const cases: Array<{ what: string, ask: BlockRange, answer: (id: number) => Message[], before?: number }> = [
        { what: 'the wrong start', ask: { start: 0, end: 9 }, answer: id => [blocksFrame(id, 5, 5, blocks.slice(0, 1))] },
        { what: 'a range naming more than it carries', ask: { start: 0, end: 9 }, answer: id => [blocksFrame(id, 0, 2, blocks.slice(0, 2))] },
        { what: 'more than asked', ask: { start: 0, end: 1 }, answer: id => [blocksFrame(id, 0, 2, blocks.slice(0, 3))] },
        { what: 'ascending where descending was asked', ask: { start: 3, end: 0 }, answer: id => [blocksFrame(id, 0, 3, blocks)] },
        { what: 'a block sent twice', ask: { start: 0, end: 9 }, answer: id => [blocksFrame(id, 0, 1, blocks.slice(0, 2)), blocksFrame(id, 1, 2, blocks.slice(1, 3))], before: 1 }
      ]

      for (const [i, { what, ask, answer, before = 0 }] of cases.entries()) {
        const yielded: SyncBlocks[] = []
        const result = collect(remote.requestBlocks(ask, { timeout: 5_000 }), (frame) => { yielded.push(frame) })
        const request = await blockRequest(fake, i)
        assert.deepEqual({ start: request.start, end: request.end }, ask)
        for (const msg of answer(request.correlationId)) fake.send(msg)
        await assert.rejects(result, InvalidSyncAnswerError, what)
        assert.equal(yielded.length, before, `${what}: frames before the failure`)
      }

      assert.equal(asker.services.fabric.isEstablished(fake.node.peerId), true)
      // and a fitting answer still gets through
      const result = collect(remote.requestBlocks({ start: 3, end: 0 }))
      const request = await blockRequest(fake, cases.length)
      fake.send(blocksFrame(request.correlationId, 3, 2, blocks.slice(0, 2)))
      fake.send(blocksFrame(request.correlationId, 1, 0, blocks.slice(2, 4)))
      assert.deepEqual(numbersOf(await result, (f: SyncBlocks) => f.blocks.length, -1), [3, 2, 1, 0])
    })

    it('silence fails a request with TimeoutError after `timeout` ms of quiet, however long a trickling answer takes', async () => {
      const asker = await node()
      const fake = await attackerOf(asker)
      const remote = asker.services.fabric.getRemoteLedger(fake.node.peerId)

      const silent = elapsed(async () => collect(remote.requestBlocks({ start: 0, end: 3 }, { timeout: 500 })))
      await blockRequest(fake, 0)
      const failed = await silent.then(() => { throw new Error('the silent request succeeded') }, (err: Error) => err)
      assert.equal(failed.name, 'TimeoutError', failed.message)

      const timed = await elapsed(async () => collect(remote.requestBlocks({ start: 0, end: 3 }, { timeout: 500 })).catch((err: Error) => err))
      assert.ok(timed.result instanceof Error && timed.result.name === 'TimeoutError')
      assert.ok(timed.ms >= 480 && timed.ms < 1_500, `the timeout of 500 ms fired after ${timed.ms} ms`)

      // one block every 250 ms: never 800 ms of quiet, 1.25 s in all
      const blocks = fakeBlocks(5)
      const trickled = elapsed(async () => collect(remote.requestBlocks({ start: 0, end: 4 }, { timeout: 800 })))
      const request = await blockRequest(fake, 2)
      for (let n = 0; n < 5; n++) {
        await new Promise(resolve => setTimeout(resolve, 250))
        fake.send(blocksFrame(request.correlationId, n, n, blocks.slice(n, n + 1)))
      }
      const { ms, result } = await trickled
      assert.equal(result.length, 5)
      assert.ok(ms >= 1_200, `the trickled answer completed in ${ms} ms`)
    })

    it('an undecodable SYNC_BLOCKS rejects the peer and fails its requests with ChatClosedError', async () => {
      const asker = await node()
      const fake = await attackerOf(asker)
      const remote = asker.services.fabric.getRemoteLedger(fake.node.peerId)
      const rejected = nextEvent(asker.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.node.peerId))

      const result = collect(remote.requestBlocks({ start: 0, end: 3 }))
      const also = collect(remote.requestStateSnapshot())
      await blockRequest(fake, 0)
      // field 1 (range), length-delimited, announcing 127 bytes of which none follow
      fake.send({ ...createMessage(Message.Type.SYNC_BLOCKS), payload: Uint8Array.of(0x0a, 0x7f) })

      await assert.rejects(result, ChatClosedError)
      await assert.rejects(also, ChatClosedError)
      assert.match((await rejected).reason, /undecodable SYNC_BLOCKS/)
      assert.equal(asker.services.fabric.isEstablished(fake.node.peerId), false)
      // a request on the closed chat's RemoteLedger fails at once
      await assert.rejects(collect(remote.requestBlocks({ start: 0, end: 0 })), ChatClosedError)
    })

    it('unsolicited answers with random correlation ids disturb no request in flight', async () => {
      const ledger = await ledgerWith(Array.from({ length: 60 }, () => 20 * KiB))
      const { client: asker, remote: honest } = await pair(ledger, { maxMessageSize: 64 * KiB })
      const fake = await attackerOf(asker)
      const remote = asker.services.fabric.getRemoteLedger(fake.node.peerId)
      const blocks = fakeBlocks(3)

      // a request to the fake peer, waiting for its answer
      const fromFake = collect(remote.requestBlocks({ start: 0, end: 2 }, { timeout: 10_000 }))
      const asked = await blockRequest(fake, 0)
      const flood = (): void => {
        // ids of requests in flight on the other chat, and random ones; never the id asked on this chat
        const ids = [...span(0, 20), ...Array.from({ length: 300 }, () => randomBytes(4).readUInt32BE())].filter(id => id !== asked.correlationId)
        for (const id of ids) fake.send(blocksFrame(id, 0, 0, blocks.slice(0, 1)))
        // the right id, as the wrong kind of answer
        fake.send(createMessage(Message.Type.SYNC_STATE_DELTAS, SyncStateDeltas.encode({ range: { correlationId: asked.correlationId, start: 0, end: 0 }, deltas: [new Uint8Array(3)] })))
      }

      // the honest peer's answer, 20-odd frames, consumed slowly; the flood starts after its first frame
      await fetchBlocksChecked(honest, ledger, { start: 0, end: 59 }, {}, async (_, i) => {
        if (i === 0) flood()
        await new Promise(resolve => setTimeout(resolve, 10))
      })

      fake.send(blocksFrame(asked.correlationId, 0, 2, blocks))
      const frames = await fromFake
      assert.equal(frames.length, 1)
      assert.deepEqual(frames[0].blocks.map(b => Block.encode(b)), blocks.map(b => Block.encode(b)))
      assert.equal(asker.services.fabric.isEstablished(fake.node.peerId), true)
    })
  })

  it('a peer asking 50 big ranges at once and reading nothing makes the node hold a frame per request in flight, 4 of them; the rest are answered empty', async () => {
    const maxMessageSize = 1 * MiB
    const count = 40
    const ledger = await ledgerWith(Array.from({ length: count }, () => 240 * KiB))
    let reads = 0
    const getEncodedBlock = ledger.getEncodedBlock.bind(ledger)
    ledger.getEncodedBlock = async (n) => { reads++; return getEncodedBlock(n) }
    const server = await node({ ledger, maxMessageSize })
    const honest = await node()
    await honest.services.fabric.chatWithPeer(server.getMultiaddrs())
    const fake = await attackerOf(server)

    // 50 requests for everything, in one go, and not a byte read
    fake.stream!.pause()
    const requests = 50
    for (let id = 1; id <= requests; id++) {
      fake.send(createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: id, start: 0, end: 999 })))
    }

    let peak: FabricUsage | undefined
    const sample = (): void => {
      const usage = server.services.fabric.usage()
      if (peak == null || usage.sendQueueBytes > peak.sendQueueBytes) peak = usage
    }
    const sampler = setInterval(sample, 5)

    try {
      // meanwhile an honest peer is served, whole
      const served = await elapsed(async () => fetchBlocksChecked(honest.services.fabric.getRemoteLedger(server.peerId), ledger, { start: 0, end: count - 1 }, { timeout: 5_000 }))
      assert.ok(served.ms < 5_000, `the honest peer waited ${served.ms} ms`)
      await new Promise(resolve => setTimeout(resolve, 1_500))
    } finally {
      clearInterval(sampler)
    }
    sample()

    // the 4 answers in flight each queue their next frame only when the queue is empty: at most 4 frames
    // of maxMessageSize at once, plus the 46 empty answers and the hello, a few KiB
    const bound = MAX_SYNC_REQUESTS_IN_FLIGHT * maxMessageSize + 64 * KiB
    process.stdout.write(`# send queues peaked at ${peak!.sendQueueBytes} bytes (bound ${bound}); ${reads - count} block reads for the reader of nothing\n`)
    assert.ok(peak!.sendQueueBytes <= bound, `send queues held ${peak!.sendQueueBytes} bytes`)
    assert.ok(peak!.sendQueueBytes >= maxMessageSize / 2, `send queues held only ${peak!.sendQueueBytes} bytes: the attack did not load the node`)
    // every request answered in full would read 50 x 40 blocks
    assert.ok(reads - count <= MAX_SYNC_REQUESTS_IN_FLIGHT * count, `${reads - count} block reads for the peer that reads nothing`)
    assert.equal(server.services.fabric.isEstablished(fake.node.peerId), true)

    // now read: requests 1-4 get the chain and an empty frame for the rest, 5-50 an empty frame at once
    fake.stream!.resume()
    const answers = (): SyncBlocks[] => fake.received.filter(m => m.type === Message.Type.SYNC_BLOCKS).map(m => SyncBlocks.decode(m.payload))
    const ended = (): number => answers().filter(a => a.blocks.length === 0).length
    await waitFor(() => ended() === requests, `an empty frame for each of the ${requests} requests (${ended()})`, 15_000)
    const byId = Map.groupBy(answers(), a => a.range!.correlationId)
    assert.deepEqual([...byId.keys()].sort((a, b) => a - b), span(1, requests))

    for (const [id, frames] of byId) {
      const last = frames.at(-1)!
      assert.equal(last.blocks.length, 0, `request ${id} does not end with an empty frame`)

      if (id <= MAX_SYNC_REQUESTS_IN_FLIGHT) {
        assert.deepEqual(numbersOf(frames.slice(0, -1), (f: SyncBlocks) => f.blocks.length, 1), span(0, count - 1), `request ${id}`)
        assert.deepEqual({ ...last.range }, { correlationId: id, start: count, end: 999 })
      } else {
        assert.equal(frames.length, 1, `request ${id}, beyond ${MAX_SYNC_REQUESTS_IN_FLIGHT} in flight, got blocks`)
        assert.deepEqual({ ...last.range }, { correlationId: id, start: 0, end: 999 })
      }
    }
  })
})
