/**
 * Catch-up: a node with an empty ledger fetches 10 000 blocks of 1 KiB (one
 * transaction each) from a peer through RemoteLedger, checks that each
 * extends the chain (previousBlockHash is the hash of the one before, hashes
 * computed with blockHash) and appends them with appendBlocks, one batch per
 * answer frame; timed from the first request to height 10 000. The baseline,
 * in the same run: a raw libp2p stream (TCP + Noise + yamux, no fabric
 * service) carrying the same bytes (the sum of the encoded blocks), written
 * with send() honouring backpressure and read to the end.
 *
 * Where the time goes: a transfer-only run (the same requests, frames
 * dropped), and within a full run the time the consumer spent waiting for
 * frames, verifying and appending.
 *
 * Both ends of every run are in this process. The ledgers are
 * DatastoreLedgers on a MemoryDatastore, and on datastore-level (LevelDB, the
 * CLI's default) in a temporary directory.
 *
 * Standalone: npx tsx test/bench/catch-up-bench.ts [--quick] [--rounds N] [--only memory|level] [--tune]
 */

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { once } from 'node:events'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { MAX_SYNC_RANGE, MAX_SYNC_REQUESTS_IN_FLIGHT } from '../../src/constants.js'
import { defaultLogger } from '@libp2p/logger'
import { Block, blockHash, DatastoreLedger, noopsEngine, timestampNow, Transaction } from '../../src/index.js'
import { buildChain } from '../helpers/chain.js'
import { createNode, createRawNode } from '../helpers/nodes.js'
import type { RemoteLedger, SyncBlocks } from '../../src/index.js'
import type { Datastore } from 'interface-datastore'

export type Backend = 'memory' | 'level'

/** Where the current run is, for the message of one that hangs */
let phase = ''

/** How B asks: ranges of `range` blocks, up to `depth` requests in flight */
export interface Pipeline { range: number, depth: number }

/** The default: MAX_SYNC_RANGE blocks per request, MAX_SYNC_REQUESTS_IN_FLIGHT in flight */
export const DEFAULT_PIPELINE: Pipeline = { range: MAX_SYNC_RANGE, depth: MAX_SYNC_REQUESTS_IN_FLIGHT }

/** A chain of `count` blocks, each one transaction with a `payload`-byte payload, and its hashes */
export interface Chain { blocks: Block[], hashes: Uint8Array[], bytes: number }

export async function makeChain (count: number, payload = 1024): Promise<Chain> {
  const blocks: Block[] = []
  const hashes: Uint8Array[] = []
  let previous = new Uint8Array(0)
  let bytes = 0

  for (let n = 0; n < count; n++) {
    const block: Block = {
      version: 0,
      timestamp: timestampNow(),
      transactions: [{
        type: Transaction.Type.CHAINCODE_INVOKE,
        chaincodeID: new TextEncoder().encode('bench'),
        payload: randomBytes(payload) as Uint8Array<ArrayBuffer>,
        metadata: new Uint8Array(0),
        txid: `tx-${n.toString().padStart(8, '0')}`,
        timestamp: timestampNow(),
        nonce: new Uint8Array(0),
        cert: new Uint8Array(0),
        signature: new Uint8Array(0)
      }],
      stateHash: randomBytes(32) as Uint8Array<ArrayBuffer>,
      previousBlockHash: previous,
      consensusMetadata: new Uint8Array(0)
    }
    const hash = await blockHash(block)
    blocks.push(block)
    hashes.push(hash)
    bytes += Block.encode(block).byteLength
    previous = hash as Uint8Array<ArrayBuffer>
  }

  return { blocks, hashes, bytes }
}

/** A datastore of `backend`, and how to get rid of it */
async function datastore (backend: Backend): Promise<{ store: Datastore, dispose: () => Promise<void> }> {
  if (backend === 'memory') {
    return { store: new MemoryDatastore(), dispose: async () => {} }
  }

  const dir = await mkdtemp(join(tmpdir(), 'catch-up-bench-'))
  const store = new LevelDatastore(dir)
  await store.open()
  return { store, dispose: async () => { await store.close(); await rm(dir, { recursive: true, force: true }) } }
}

/** A ledger holding `chain`, appended 1000 at a time */
async function sourceLedger (backend: Backend, chain: Chain): Promise<{ ledger: DatastoreLedger, dispose: () => Promise<void> }> {
  const { store, dispose } = await datastore(backend)
  const ledger = await new DatastoreLedger(store).open()

  for (let n = 0; n < chain.blocks.length; n += 1000) {
    await ledger.appendBlocks(chain.blocks.slice(n, n + 1000).map((block, i) => ({ block, hash: chain.hashes[n + i] })))
  }

  return { ledger, dispose }
}

export interface CatchUpRun {
  ms: number
  blocks: number
  /** Time the consumer waited for the next frame */
  waitMs: number
  /** Time in the chain check: previousBlockHash against blockHash of the one before */
  verifyMs: number
  /** Time in appendBlocks */
  appendMs: number
  frames: number
}

/**
 * Blocks `0..count-1` from `remote`: ranges of `pipeline.range` asked in
 * order, `pipeline.depth` in flight, frames handed to `onFrame` in order. A
 * request's next frame is asked for before its current one is handled, and the
 * next range is asked as soon as one completes, so the wire stays busy while
 * blocks are checked and appended.
 */
async function pull (remote: RemoteLedger, count: number, pipeline: Pipeline, onFrame: (frame: SyncBlocks) => Promise<void> | void): Promise<{ waitMs: number, frames: number }> {
  const ranges: Array<{ start: number, end: number }> = []
  for (let start = 0; start < count; start += pipeline.range) ranges.push({ start, end: Math.min(start + pipeline.range, count) - 1 })
  const open: Array<{ start: number, end: number, it: AsyncIterator<SyncBlocks>, next: Promise<IteratorResult<SyncBlocks>> }> = []
  let asked = 0
  let waitMs = 0
  let frames = 0

  const ask = (): void => {
    const range = ranges[asked++]
    const it = remote.requestBlocks(range, { timeout: 30_000 })[Symbol.asyncIterator]()
    open.push({ ...range, it, next: it.next() })
  }

  try {
    while (open.length < pipeline.depth && asked < ranges.length) ask()

    while (open.length > 0) {
      const head = open[0]
      phase = `catch-up: waiting for a frame of ${head.start}-${head.end}, ${open.length} open, ${asked} asked, ${frames} frames so far`
      const t0 = performance.now()
      const r = await head.next
      waitMs += performance.now() - t0

      if (r.done === true) {
        open.shift()
        if (open.length < pipeline.depth && asked < ranges.length) ask()
        continue
      }

      frames++
      head.next = head.it.next()

      if (r.value.range?.end === head.end && open.length - 1 < pipeline.depth && asked < ranges.length) {
        // this request is complete: the next one goes out before this frame is handled
        ask()
      }

      await onFrame(r.value)
    }
  } finally {
    // after a failure the requests still open are given up (their chat fails them when the nodes stop)
    for (const o of open) {
      o.next.catch(() => {})
      void o.it.return?.(undefined).catch(() => {})
    }
  }

  return { waitMs, frames }
}

/**
 * Node B (empty ledger on `backend`) catches up from node A (holding `source`).
 * `verify: false, append: false` is the transfer alone.
 */
export async function catchUp (source: DatastoreLedger, backend: Backend, count: number, pipeline = DEFAULT_PIPELINE, work = { verify: true, append: true }): Promise<CatchUpRun> {
  phase = 'catch-up: starting nodes'
  const target = await datastore(backend)
  const ledger = await new DatastoreLedger(target.store).open()
  const a = await createNode({ fabric: { touchPeriod: 0, ledger: source } })
  const b = await createNode({ fabric: { touchPeriod: 0, ledger } })

  try {
    phase = 'catch-up: chatWithPeer'
    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    const remote = b.services.fabric.getRemoteLedger(a.peerId)
    let previous = ledger.getBlockchainInfo().currentBlockHash as Uint8Array
    let received = 0
    let verifyMs = 0
    let appendMs = 0

    phase = 'catch-up: pulling'
    const start = performance.now()
    const { waitMs, frames } = await pull(remote, count, pipeline, async (frame) => {
      if (frame.range?.start !== received) throw new Error(`frame starts at ${frame.range?.start}, ${received} was due`)
      received += frame.blocks.length
      if (!work.verify && !work.append) return

      const t0 = performance.now()
      const hashes: Uint8Array[] = []

      for (const block of frame.blocks) {
        if (!uint8ArrayEquals(block.previousBlockHash, previous)) throw new Error(`block ${frame.range.start + hashes.length} does not extend the chain`)
        previous = await blockHash(block)
        hashes.push(previous)
      }

      const t1 = performance.now()
      verifyMs += t1 - t0

      if (work.append) {
        await ledger.appendBlocks(frame.blocks.map((block, i) => ({ block, hash: hashes[i] })))
        appendMs += performance.now() - t1
      }
    })

    const ms = performance.now() - start
    if (received !== count) throw new Error(`received ${received} of ${count} blocks`)
    if (work.append && ledger.height !== count) throw new Error(`height ${ledger.height}, ${count} expected`)
    return { ms, blocks: count, waitMs, verifyMs, appendMs, frames }
  } finally {
    phase = 'catch-up: stopping nodes'
    await Promise.all([a.stop(), b.stop()])
    phase = 'catch-up: disposing datastore'
    await target.dispose()
    phase = 'catch-up: done'
  }
}

/**
 * The reference engine's own catch-up: a fresh noops validator chats with a
 * validator holding the chain (built as the sequencer makes it, state hashes
 * and all) and fetches it through RemoteLedger, checking every block's chain
 * hash and state hash and executing it; ms from the chat to height `count`.
 */
export async function engineCatchUp (source: DatastoreLedger, backend: Backend, count: number): Promise<number> {
  phase = 'engine catch-up: starting nodes'
  const target = await datastore(backend)
  const ledger = await new DatastoreLedger(target.store).open()
  const engine = noopsEngine({ ledger, logger: defaultLogger() })
  const a = await createNode({ fabric: { touchPeriod: 0, ledger: source } })
  const b = await createNode({ fabric: { touchPeriod: 0, ledger, engine } })

  try {
    phase = 'engine catch-up: running'
    const start = performance.now()
    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    while (ledger.height < count) {
      if (!engine.usage().catchingUp && ledger.height < count && performance.now() - start > 5_000) throw new Error(`the engine stopped catching up at ${ledger.height}`)
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    return performance.now() - start
  } finally {
    phase = 'engine catch-up: stopping nodes'
    await Promise.all([a.stop(), b.stop()])
    await target.dispose()
    phase = 'engine catch-up: done'
  }
}

/** `bytes` on a raw libp2p stream, `chunk` bytes per send(), read to the end; ms from the first send to the last byte read */
export async function rawStream (data: Uint8Array, chunk = 256 * 1024): Promise<number> {
  const protocol = '/bench/catch-up-raw/1.0.0'
  const [a, b] = await Promise.all([createRawNode(), createRawNode()])
  let received = 0
  const { promise: finished, resolve, reject } = Promise.withResolvers<void>()

  await b.handle(protocol, (stream) => {
    stream.addEventListener('message', (evt) => { received += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => { received === data.byteLength ? resolve() : reject(new Error(`read ${received} of ${data.byteLength} bytes`)) })
  })

  try {
    phase = 'raw: dialProtocol'
    const stream = await a.dialProtocol(b.getMultiaddrs(), protocol)
    const start = performance.now()

    for (let offset = 0; offset < data.byteLength; offset += chunk) {
      if (!stream.send(data.subarray(offset, offset + chunk))) {
        phase = `raw: waiting for drain at ${offset}, ${received} received`
        await once(stream as any, 'drain')
      }
    }

    phase = `raw: closing, ${received} received`
    await stream.close()
    phase = `raw: waiting for the end, ${received} received`
    await finished
    return performance.now() - start
  } finally {
    phase = 'raw: stopping nodes'
    await Promise.all([a.stop(), b.stop()])
    phase = 'raw: done'
  }
}

/** One figure over the rounds */
export interface Samples { ms: number[], median: number, min: number, max: number }

function samples (ms: number[]): Samples {
  const s = [...ms].sort((x, y) => x - y)
  return { ms, median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] }
}

export interface BackendResult {
  backend: Backend
  /** Full catch-up: transfer, verify, append */
  full: Samples
  /** The same requests, frames dropped */
  transfer: Samples
  /** The noops engine's own catch-up (chain and state hashes checked, blocks executed) */
  engine: Samples
  /** Medians over the full runs: time waiting for frames, verifying, appending */
  waitMs: number
  verifyMs: number
  appendMs: number
  frames: number
}

export interface CatchUpReport {
  blocks: number
  payload: number
  bytes: number
  rounds: number
  pipeline: Pipeline
  raw: Samples
  backends: BackendResult[]
  /** Optional: full catch-up on MemoryDatastore per pipeline shape, median ms */
  tuning?: Array<Pipeline & { ms: number }>
}

export interface CatchUpOptions {
  blocks?: number
  payload?: number
  rounds?: number
  backends?: Backend[]
  pipeline?: Pipeline
  /** Also time a few pipeline shapes (memory backend) */
  tune?: boolean
  log?: (line: string) => void
}

const med = (xs: number[]): number => samples(xs).median

/** A run that has not finished in `ms` fails, saying what it was, instead of hanging the bench */
async function guarded <T> (what: string, run: Promise<T>, ms = 120_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: not finished after ${ms} ms, at: ${phase}`)) }, ms) })

  try {
    return await Promise.race([run, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Alternating rounds of raw stream and catch-up on each backend, after a warm-up */
export async function catchUpBenchmark (options: CatchUpOptions = {}): Promise<CatchUpReport> {
  const count = options.blocks ?? 10_000
  const payload = options.payload ?? 1024
  const rounds = options.rounds ?? 5
  const backends = options.backends ?? ['memory', 'level']
  const pipeline = options.pipeline ?? DEFAULT_PIPELINE
  const log = options.log ?? (() => {})

  const chain = await makeChain(count, payload)
  const data = new Uint8Array(chain.bytes)
  let offset = 0
  for (const block of chain.blocks) { const e = Block.encode(block); data.set(e, offset); offset += e.byteLength }
  const sources = new Map<Backend, Awaited<ReturnType<typeof sourceLedger>>>()
  for (const backend of backends) sources.set(backend, await sourceLedger(backend, chain))
  // the engine's chain: the same sizes, made as the sequencer makes it (state hashes)
  const engineSources = new Map<Backend, { ledger: DatastoreLedger, dispose: () => Promise<void> }>()
  for (const backend of backends) {
    const { store, dispose } = await datastore(backend)
    const ledger = await new DatastoreLedger(store).open()
    await buildChain(ledger, Array.from({ length: count }, () => payload))
    engineSources.set(backend, { ledger, dispose })
  }

  try {
    const mbps = (ms: number): number => chain.bytes / 1e6 / (ms / 1000)
    const tuning: Array<Pipeline & { ms: number }> = []

    if (options.tune === true) {
      const shapes: Pipeline[] = [{ range: 1000, depth: 1 }, { range: 1000, depth: 2 }, { range: 1000, depth: 4 }, { range: 500, depth: 4 }, { range: 250, depth: 4 }, { range: 100, depth: 4 }]
      const times = new Map<Pipeline, number[]>(shapes.map(s => [s, []]))
      const memory = sources.get('memory') ?? await sourceLedger('memory', chain)
      await guarded('catch-up memory (tuning warm-up)', catchUp(memory.ledger, 'memory', count, pipeline))
      for (let round = 0; round < Math.max(3, rounds); round++) {
        for (const shape of shapes) times.get(shape)!.push((await guarded(`catch-up memory ${shape.range}×${shape.depth}`, catchUp(memory.ledger, 'memory', count, shape))).ms)
      }
      for (const shape of shapes) tuning.push({ ...shape, ms: med(times.get(shape)!) })
      log(`pipeline shapes (memory, full catch-up, median ms): ${tuning.map(t => `${t.range}×${t.depth} ${t.ms.toFixed(0)}`).join(', ')}`)
      if (!sources.has('memory')) await memory.dispose()
    }

    // warm-up
    await guarded('raw stream (warm-up)', rawStream(data))
    for (const backend of backends) await guarded(`catch-up ${backend} (warm-up)`, catchUp(sources.get(backend)!.ledger, backend, count, pipeline))

    const raw: number[] = []
    const full = new Map<Backend, CatchUpRun[]>(backends.map(b => [b, []]))
    const transfer = new Map<Backend, number[]>(backends.map(b => [b, []]))
    const engine = new Map<Backend, number[]>(backends.map(b => [b, []]))
    for (const backend of backends) await guarded(`engine catch-up ${backend} (warm-up)`, engineCatchUp(engineSources.get(backend)!.ledger, backend, count))

    for (let round = 1; round <= rounds; round++) {
      const line: string[] = []
      raw.push(await guarded(`raw stream, round ${round}`, rawStream(data)))
      line.push(`raw ${mbps(raw.at(-1)!).toFixed(0)} MB/s`)

      for (const backend of backends) {
        const source = sources.get(backend)!.ledger
        const t = await guarded(`transfer only ${backend}, round ${round}`, catchUp(source, backend, count, pipeline, { verify: false, append: false }))
        transfer.get(backend)!.push(t.ms)
        const f = await guarded(`catch-up ${backend}, round ${round}`, catchUp(source, backend, count, pipeline))
        full.get(backend)!.push(f)
        const e = await guarded(`engine catch-up ${backend}, round ${round}`, engineCatchUp(engineSources.get(backend)!.ledger, backend, count))
        engine.get(backend)!.push(e)
        line.push(`${backend}: engine ${mbps(e).toFixed(0)} MB/s`)
        line.push(`${backend}: catch-up ${mbps(f.ms).toFixed(0)} MB/s (wait ${f.waitMs.toFixed(0)} + verify ${f.verifyMs.toFixed(0)} + append ${f.appendMs.toFixed(0)} ms), transfer only ${mbps(t.ms).toFixed(0)} MB/s`)
      }

      log(`round ${round}: ${line.join('; ')}`)
    }

    return {
      blocks: count,
      payload,
      bytes: chain.bytes,
      rounds,
      pipeline,
      raw: samples(raw),
      backends: backends.map(backend => {
        const runs = full.get(backend)!
        return {
          backend,
          full: samples(runs.map(r => r.ms)),
          transfer: samples(transfer.get(backend)!),
          engine: samples(engine.get(backend)!),
          waitMs: med(runs.map(r => r.waitMs)),
          verifyMs: med(runs.map(r => r.verifyMs)),
          appendMs: med(runs.map(r => r.appendMs)),
          frames: med(runs.map(r => r.frames))
        }
      }),
      tuning: tuning.length > 0 ? tuning : undefined
    }
  } finally {
    for (const source of sources.values()) await source.dispose()
    for (const source of engineSources.values()) await source.dispose()
  }
}

export const BACKEND_NAME: Record<Backend, string> = { memory: 'MemoryDatastore', level: 'LevelDB (datastore-level)' }

/** Rows for printing: blocks/s, MB/s, ratio to the raw stream, and the breakdown */
export function catchUpTable (r: CatchUpReport): string[] {
  const mbps = (ms: number): number => r.bytes / 1e6 / (ms / 1000)
  const bps = (ms: number): number => r.blocks / (ms / 1000)
  const k = (x: number): string => Math.round(x).toLocaleString('en')
  const x2 = (x: number): string => `${x.toFixed(2)}×`
  const range = (s: Samples): string => `${mbps(s.max).toFixed(0)}–${mbps(s.min).toFixed(0)}`
  return [
    '| run | blocks/s | MB/s | range MB/s | ÷ raw stream |', '|---|---:|---:|---:|---:|',
    `| raw libp2p stream, same bytes | ${k(bps(r.raw.median))} | ${mbps(r.raw.median).toFixed(1)} | ${range(r.raw)} | 1.00× |`,
    ...r.backends.flatMap(b => [
      `| **the noops engine's catch-up**, ${BACKEND_NAME[b.backend]} (chain and state hashes checked, blocks executed) | ${k(bps(b.engine.median))} | ${mbps(b.engine.median).toFixed(1)} | ${range(b.engine)} | ${x2(r.raw.median / b.engine.median)} |`,
      `| catch-up, ${BACKEND_NAME[b.backend]} | ${k(bps(b.full.median))} | ${mbps(b.full.median).toFixed(1)} | ${range(b.full)} | ${x2(r.raw.median / b.full.median)} |`,
      `| transfer only (no verify, no append), ${BACKEND_NAME[b.backend]} | ${k(bps(b.transfer.median))} | ${mbps(b.transfer.median).toFixed(1)} | ${range(b.transfer)} | ${x2(r.raw.median / b.transfer.median)} |`
    ]),
    '',
    '| where a full catch-up\'s time goes (medians, ms) | total | waiting for frames | verify (blockHash, chain check) | appendBlocks | transfer-only run | raw stream |', '|---|---:|---:|---:|---:|---:|---:|',
    ...r.backends.map(b => `| ${BACKEND_NAME[b.backend]} | ${b.full.median.toFixed(0)} | ${b.waitMs.toFixed(0)} | ${b.verifyMs.toFixed(0)} | ${b.appendMs.toFixed(0)} | ${b.transfer.median.toFixed(0)} | ${r.raw.median.toFixed(0)} |`)
  ]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, only: { type: 'string' }, tune: { type: 'boolean', default: false }, range: { type: 'string' }, depth: { type: 'string' } } })
  const r = await catchUpBenchmark({
    rounds: values.rounds != null ? Number(values.rounds) : values.quick ? 3 : 7,
    backends: values.only != null ? [values.only as Backend] : undefined,
    pipeline: { range: Number(values.range ?? DEFAULT_PIPELINE.range), depth: Number(values.depth ?? DEFAULT_PIPELINE.depth) },
    tune: values.tune,
    log: line => { console.info(`  ${line}`) }
  })
  console.info(`\n${r.blocks} blocks of ${r.payload} B payload (${(r.bytes / 1e6).toFixed(2)} MB encoded), ranges of ${r.pipeline.range}, ${r.pipeline.depth} in flight, ${r.rounds} round(s), medians\n`)
  console.info(catchUpTable(r).join('\n'))
  process.exit(0)
}
