/**
 * The chaos scenario: validators and non-validators as processes (on loopback,
 * or each in its own network namespace), and for a fixed time random SIGKILLs
 * and restarts (and, with namespaces, links cut and restored) while a client
 * keeps submitting transactions. Then the recovery conditions:
 * - every live node back in its role's topology (validators in a full mesh,
 *   each non-validator with minValidators validators), and how long after the
 *   last fault that took;
 * - every node's persisted discovery list readable after a final SIGKILL of all;
 * - no unhandled rejection or uncaught exception in any node;
 * - no transaction acknowledged with SUCCESS missing from any validator's ledger.
 *
 * Every loop is bounded in count and time; traffic stays on 127.0.0.0/8 or
 * the namespaces the run creates.
 */

import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Key } from 'interface-datastore'
import { LevelDatastore } from 'datastore-level'
import { DISCOVERY_LIST_KEY } from '../../src/constants.js'
import { PeersAddresses } from '../../src/pb/fabric.js'
import { Harness } from '../../src/testing/index.js'
import { Netns } from '../harness/index.js'
import type { TxResult } from '../../src/testing/index.js'

export interface ChaosOptions {
  netns?: boolean
  validators?: number
  nonValidators?: number
  /** How long faults are injected, ms */
  duration?: number
  /** Faults at most this many in all (a bound besides duration) */
  maxFaults?: number
  seed?: number
  discoveryPeriod?: number
  touchPeriod?: number
  /** A transaction every this many ms */
  txEvery?: number
  progress?: (line: string) => void
}

export interface Fault { at: number, kind: 'kill' | 'cut', node: string, downMs: number, endedAt?: number }

export interface ChaosReport {
  options: Required<Omit<ChaosOptions, 'progress' | 'netns'>> & { netns: boolean }
  faults: Fault[]
  transactions: { submitted: number, success: number, failure: number, noAnswer: number }
  /** ms from the end of the last fault until every live node was in its role's topology */
  recoveryMs: number
  /** The bound the issue sets: touchPeriod + 2 s */
  recoveryBoundMs: number
  /** SUCCESS transactions missing from some validator's ledger */
  missing: Array<{ txid: string, validator: string }>
  ledgers: Array<{ name: string, height: number, head: string }>
  /** Persisted discovery lists after a final SIGKILL of every node */
  lists: Array<{ name: string, addresses: number, error?: string }>
  failures: Array<{ node: string, error: string }>
  /** Everything that held */
  ok: boolean
  problems: string[]
}

/** mulberry32: a small seeded PRNG, so a run can be replayed */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export async function runChaos (options: ChaosOptions = {}): Promise<ChaosReport> {
  const o = {
    netns: options.netns ?? false,
    validators: options.validators ?? 6,
    nonValidators: options.nonValidators ?? 4,
    duration: options.duration ?? 60_000,
    maxFaults: options.maxFaults ?? 1_000,
    seed: options.seed ?? Date.now() % 1_000_000,
    discoveryPeriod: options.discoveryPeriod ?? 1_000,
    touchPeriod: options.touchPeriod ?? 2_000,
    txEvery: options.txEvery ?? 250
  }
  const rand = random(o.seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  const between = (lo: number, hi: number): number => Math.round(lo + rand() * (hi - lo))
  const log = options.progress ?? (() => {})
  const problems: string[] = []

  const netns = o.netns ? new Netns() : undefined
  const h = await Harness.create({
    placement: netns,
    progress: options.progress ?? false,
    defaults: {
      settleTime: 2 * o.touchPeriod,
      fabric: {
        discoveryPeriod: o.discoveryPeriod,
        touchPeriod: o.touchPeriod,
        // a node that was down is retried within a touch period, not minutes later
        dialBackoffInitial: Math.round(o.touchPeriod / 2),
        dialBackoffMax: o.touchPeriod,
        persistDelay: 200,
        transactionTimeout: 5_000
      }
    }
  })

  const faults: Fault[] = []
  const txs: Array<TxResult | { txid: string, status: 'NO ANSWER', message: string }> = []

  try {
    const vps = Array.from({ length: o.validators }, (_, i) => `vp${i}`)
    const nvps = Array.from({ length: o.nonValidators }, (_, i) => `nvp${i}`)
    await h.start([{ name: 'vp0', root: true }, ...vps.slice(1).map(name => ({ name })), ...nvps.map(name => ({ name, validator: false }))])
    await h.waitFor(h.topology(), 60_000)
    log(`  network up: ${o.validators} validators, ${o.nonValidators} non-validators${o.netns ? ', each in its own network namespace' : ' on 127.0.0.1'}; seed ${o.seed}`)

    const started = Date.now()
    const end = started + o.duration
    let txCount = 0

    // the client: one transaction at a time at a random live node, until the faults stop
    const client = (async () => {
      while (Date.now() < end && txCount < 100_000) {
        const up = h.up()
        if (up.length > 0) {
          const node = pick(up).spec.name
          const txid = `chaos-${o.seed}-${txCount++}`
          try {
            txs.push(await h.submit(node, txid, `chaos payload ${txid}`, 15_000))
          } catch (err: any) {
            // the node died with the request in flight: no acknowledgement either way
            txs.push({ txid, status: 'NO ANSWER', message: `${node}: ${err.message}` })
          }
        }
        await sleep(o.txEvery)
      }
    })()

    // the faults: a kill (and later a restart) or a cut link (later restored), at most two nodes down at once
    const running: Array<Promise<void>> = []
    const down = new Set<string>()
    while (Date.now() < end && faults.length < o.maxFaults) {
      await sleep(between(1_000, 3_000))
      if (Date.now() >= end) break
      const candidates = [...vps, ...nvps].filter(n => !down.has(n) && h.node(n).state === 'up')
      if (down.size >= 2 || candidates.length === 0) continue
      const node = pick(candidates)
      const kind: Fault['kind'] = o.netns && rand() < 0.4 ? 'cut' : 'kill'
      const fault: Fault = { at: Date.now() - started, kind, node, downMs: between(500, 3_000) }
      faults.push(fault)
      down.add(node)
      log(`  ${((Date.now() - started) / 1000).toFixed(1)}s  ${kind === 'kill' ? 'SIGKILL' : 'cut the link of'} ${node} for ${(fault.downMs / 1000).toFixed(1)} s`)
      running.push((async () => {
        try {
          if (kind === 'kill') {
            await h.kill(node)
            await sleep(fault.downMs)
            await h.restart(node)
          } else {
            netns!.cut(node)
            h.progress(`cut ${node}'s link`)
            await sleep(fault.downMs)
            netns!.restore(node)
            h.progress(`restored ${node}'s link`)
          }
        } catch (err: any) {
          problems.push(`fault on ${node} could not be carried out: ${err.message}`)
        } finally {
          fault.endedAt = Date.now()
          down.delete(node)
        }
      })())
    }

    await client
    await Promise.all(running)
    const lastFault = Math.max(started, ...faults.map(f => f.endedAt ?? 0))
    const recoveryMs = Date.now() - lastFault + await h.waitFor(h.topology(), 60_000).catch((err: Error) => {
      problems.push(`no recovery: ${err.message}`)
      return NaN
    })
    const recoveryBoundMs = o.touchPeriod + 2_000
    log(`  faults over: ${faults.length} (${faults.filter(f => f.kind === 'kill').length} kills${o.netns ? `, ${faults.filter(f => f.kind === 'cut').length} cuts` : ''}); every live node in its role's topology ${(recoveryMs / 1000).toFixed(2)} s after the last one ended`)

    // ledgers: every validator the same height, then every SUCCESS in every ledger
    await h.waitFor({
      what: 'validators at the same height',
      check: (hh) => new Set(hh.statuses().filter(s => s.validator).map(s => s.height)).size === 1
    }, 20_000).catch((err: Error) => { problems.push(err.message) })
    const ledgers = await Promise.all(vps.map(async name => ({ name, ...await h.ledger(name) })))
    const missing: ChaosReport['missing'] = []
    for (const tx of txs.filter(t => t.status === 'SUCCESS')) {
      for (const l of ledgers) {
        if (!l.txids.includes(tx.txid)) missing.push({ txid: tx.txid, validator: l.name })
      }
    }

    // a final SIGKILL of everyone, then every persisted list must still read
    for (const n of h.up()) await h.kill(n.spec.name)
    const lists = await Promise.all([...vps, ...nvps].map(async name => readList(name, h.node(name).spec.dataDir!)))

    const logs = await readdir(join(h.dir, 'logs'))
    for (const f of logs) {
      const text = await readFile(join(h.dir, 'logs', f), 'utf8')
      for (const line of text.split('\n')) {
        if (/FATAL|unhandled ?rejection|uncaught/i.test(line)) problems.push(`${f}: ${line.slice(0, 200)}`)
      }
    }

    const transactions = {
      submitted: txs.length,
      success: txs.filter(t => t.status === 'SUCCESS').length,
      failure: txs.filter(t => t.status === 'FAILURE').length,
      noAnswer: txs.filter(t => t.status === 'NO ANSWER').length
    }
    if (missing.length > 0) problems.push(`${new Set(missing.map(m => m.txid)).size} SUCCESS transaction(s) missing from validators' ledgers: ${missing.slice(0, 5).map(m => `${m.txid} at ${m.validator}`).join(', ')}`)
    for (const l of lists) if (l.error != null || l.addresses === 0) problems.push(`${l.name}'s persisted discovery list: ${l.error ?? 'empty'}`)
    for (const f of h.failures) problems.push(`${f.node}: ${f.error.split('\n')[0]}`)
    if (new Set(ledgers.map(l => l.head)).size > 1) problems.push(`validators disagree on the head block: ${ledgers.map(l => `${l.name} ${l.height}/${l.head}`).join(', ')}`)

    return {
      options: o,
      faults,
      transactions,
      recoveryMs,
      recoveryBoundMs,
      missing,
      ledgers: ledgers.map(({ name, height, head }) => ({ name, height, head })),
      lists,
      failures: [...h.failures],
      ok: problems.length === 0,
      problems
    }
  } finally {
    await h.close()
  }
}

async function readList (name: string, dir: string): Promise<{ name: string, addresses: number, error?: string }> {
  const store = new LevelDatastore(dir)
  try {
    await store.open()
    const bytes = await store.get(new Key(DISCOVERY_LIST_KEY))
    return { name, addresses: PeersAddresses.decode(bytes).addresses.length }
  } catch (err: any) {
    return { name, addresses: 0, error: err.message }
  } finally {
    await store.close().catch(() => {})
  }
}
