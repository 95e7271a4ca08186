/**
 * The soak run of issue 13: a `fabric-peer node start` validator and an
 * honest non-validator (both CLI processes from source), then each attack in
 * turn from a forked attacker process, while this process samples the
 * validator's RSS and CPU from /proc and measures what honest users get
 * (probes.ts). One row per attack, with a verdict.
 */

import { fork } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { adminRequest } from '../../src/cli/http.js'
import { DISCOVERY_LIST_KEY, PeersAddresses } from '../../src/index.js'
import { ATTACK_TITLES, E_CONNECTIONS, E_PER_SECOND } from './attacks.js'
import { FabricProcess } from './node-process.js'
import { HonestProbes, summarize } from './probes.js'
import { sleep } from './raw.js'
import { Sampler } from './sampler.js'
import type { AttackId, AttackOutcome, AttackTarget, Defence } from './attacks.js'
import type { AttackerReport, AttackOrder } from './attacker.js'
import type { ProbeResult, ProbeTargets } from './probes.js'
import type { Workspace } from './workspace.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The verdict's memory bound: RSS growth (peak over before) of the node under attack */
export const RSS_GROWTH_LIMIT = 200

/** A validator this far (MB) over its RSS after warm-up is restarted before the next attack: each row starts from a node that kept nothing of the previous attack */
const RESTART_ABOVE = 50

/** How long the honest path may take to work again after a restart */
const RECOVERY_TIMEOUT = 45_000

export interface SoakOptions {
  attacks: AttackId[]
  /** ms per attack (attack e takes at least the time to open its connections) */
  duration: number
  quick: boolean
  workspace: Workspace
  log(line: string): void
}

export interface Honest {
  median?: number
  max?: number
  ok: number
  failed: number
  errors: string[]
}

export interface AttackRow {
  id: AttackId
  title: string
  /** How long the attack ran, s */
  seconds: number
  rss: { before?: number, peak?: number, after?: number }
  /** CPU seconds the node used while attacked */
  cpu?: number
  tx: Honest
  join: Honest
  up: boolean
  defence?: Defence
  verdict: 'pass' | 'fail' | 'error'
  /** Why not a pass */
  why: string[]
  stats: Record<string, number>
  notes: string[]
}

/** The nodes of the run and how to reach them */
interface Nodes {
  validator: FabricProcess
  honest: FabricProcess
  /** RSS of the validator after warm-up, MB */
  baseline: number
}

export async function runSoak (options: SoakOptions): Promise<AttackRow[]> {
  const { log } = options
  const nodes = await startNodes(options)
  const rows: AttackRow[] = []

  for (const id of options.attacks) {
    const restarted = await healthy(nodes, options)
    log(`\n[${id}] ${ATTACK_TITLES[id]}`)
    let row: AttackRow

    if (id === 'h') {
      row = await secureAttack(nodes, options)
    } else if (id === 'i') {
      row = await damagedRecord(nodes, options)
    } else {
      row = await measure(id, nodes.validator, options, {
        txAdmin: () => nodes.honest.admin,
        joinAddress: () => nodes.validator.up ? nodes.validator.address : undefined,
        secure: false
      }, { address: nodes.validator.address, admin: nodes.validator.admin, metrics: nodes.validator.metrics })
    }

    if (restarted != null) {
      row.notes.unshift(restarted)
    }

    log(`[${id}] ${row.verdict.toUpperCase()}${row.why.length > 0 ? `: ${row.why.join('; ')}` : ''}`)
    rows.push(row)
  }

  await nodes.honest.stop()
  await nodes.validator.stop()
  return rows
}

async function startNodes (options: SoakOptions): Promise<Nodes> {
  const { log, workspace } = options
  const validator = new FabricProcess(workspace, { name: 'validator', dataDir: join(workspace.dir, 'validator'), validator: true, metrics: true })
  await validator.start()
  log(`validator: ${validator.address} (pid ${validator.pid}, admin ${validator.admin?.port}, metrics ${validator.metrics?.port})`)
  const honest = new FabricProcess(workspace, {
    name: 'honest',
    dataDir: join(workspace.dir, 'honest'),
    validator: false,
    rootNodes: [validator.address],
    // it finds the validator again soon after a restart
    env: { CORE_PEER_DISCOVERY_TOUCHPERIOD: '1s' }
  })
  await honest.start()
  log(`honest non-validator: ${honest.address} (pid ${honest.pid}), root node the validator`)

  // blocks for SYNC_GET_BLOCKS {start 2, end 3} to serve
  for (let i = 0; i < 5; i++) {
    await adminRequest(validator.admin!, 'POST', '/transactions', { chaincode: 'soak-warmup', payload: String(i) })
  }

  const nodes = { validator, honest, baseline: 0 }
  const recovered = await honestPath(nodes)

  if (!recovered) {
    throw new Error('the honest non-validator cannot get a transaction through the validator: nothing to measure against')
  }

  await sleep(1_000)
  nodes.baseline = validator.rss() ?? 0
  log(`warm: validator RSS ${nodes.baseline.toFixed(0)} MB, honest transactions and new peers served`)
  return nodes
}

/**
 * Before an attack: a validator that died or kept the previous attack's
 * memory is restarted (same data directory and port), and the honest path
 * must work. Returns a note when something was done.
 */
async function healthy (nodes: Nodes, options: SoakOptions): Promise<string | undefined> {
  const { validator, honest } = nodes
  const notes: string[] = []
  const rss = validator.rss()

  if (!validator.up) {
    notes.push(`validator restarted before this attack (it had ${validator.death ?? 'stopped'})`)
    await validator.start()
  } else if (rss != null && rss > nodes.baseline + RESTART_ABOVE) {
    notes.push(`validator restarted before this attack (RSS ${rss.toFixed(0)} MB after the previous one)`)
    await validator.restart()
  }

  if (!honest.up) {
    notes.push(`honest peer restarted (it had ${honest.death ?? 'stopped'})`)
    await honest.start()
  }

  if (notes.length > 0) {
    options.log(notes.join('; '))
  }

  if (!(await honestPath(nodes))) {
    notes.push(`the honest path did not work within ${RECOVERY_TIMEOUT / 1000} s before the attack`)
  }

  return notes.length === 0 ? undefined : notes.join('; ')
}

/** Wait until an honest transaction and a new peer's hello both succeed */
async function honestPath (nodes: Nodes, timeout = RECOVERY_TIMEOUT): Promise<boolean> {
  const probes = new HonestProbes({ txAdmin: () => nodes.honest.admin, joinAddress: () => nodes.validator.address, secure: false })
  const deadline = Date.now() + timeout

  while (Date.now() < deadline) {
    if ((await probes.once()).every(r => r.ok)) {
      return true
    }

    await sleep(500)
  }

  return false
}

/** Attacks a-g (and h's): the attacker process against `node`, honest probes alongside */
async function measure (id: Exclude<AttackId, 'i'>, node: FabricProcess, options: SoakOptions, targets: ProbeTargets, target: AttackTarget): Promise<AttackRow> {
  const duration = id === 'e' ? Math.max(options.duration, (E_CONNECTIONS / E_PER_SECOND) * 1000 + 10_000) : options.duration
  const sampler = new Sampler(node)
  const probes = new HonestProbes(targets)
  const started = Date.now()
  const until = started + duration
  let stats: Record<string, number> = {}
  const progress = setInterval(() => {
    options.log(`[${id} ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${sampler.line()} | ${honestLine(probes.results)} | attacker: ${statsLine(stats)}`)
  }, options.quick ? 2_000 : 5_000)

  sampler.start()
  probes.start()
  let outcome: AttackOutcome | undefined
  let error: string | undefined

  try {
    outcome = await attack({ attack: id, target, until }, options, (s) => { stats = s })
  } catch (err: any) {
    error = err.message
  } finally {
    clearInterval(progress)
    await probes.stop()
  }

  const seconds = (Date.now() - started) / 1000
  await sleep(options.quick ? 1_000 : 3_000)
  sampler.stop()
  return row(id, seconds, sampler, probes.results, node, outcome ?? { stats, notes: [] }, error)
}

/** h: a validator with security on (default settings) of its own, started for this attack */
async function secureAttack (nodes: Nodes, options: SoakOptions): Promise<AttackRow> {
  const secure = new FabricProcess(options.workspace, {
    name: 'secure validator',
    dataDir: join(options.workspace.dir, 'secure'),
    validator: true,
    env: { CORE_SECURITY_ENABLED: 'true' }
  })
  await secure.start()
  options.log(`secure validator (security.enabled, defaults otherwise): ${secure.address} (pid ${secure.pid}); honest probes go to it`)

  try {
    const row = await measure('h', secure, options, {
      txAdmin: () => secure.admin,
      joinAddress: () => secure.up ? secure.address : undefined,
      secure: true
    }, { address: secure.address, admin: secure.admin })
    row.notes.unshift('against a second validator with security.enabled (defaults otherwise); honest probes to it')
    return row
  } finally {
    await secure.stop()
  }
}

/**
 * i. Stop the validator, replace its persisted discovery record (LevelDB key
 * /fabric/discovery) with garbage, start it; then the same with the record
 * truncated. A pass needs a warning printed each time (without DEBUG).
 */
async function damagedRecord (nodes: Nodes, options: SoakOptions): Promise<AttackRow> {
  const { validator, honest } = nodes
  const sampler = new Sampler(validator)
  const started = Date.now()
  const notes: string[] = []
  let warned = 0
  const variants = ['garbage', 'truncated'] as const
  sampler.start()

  for (const variant of variants) {
    await validator.stop()
    const bytes = await damage(validator.options.dataDir, variant, [honest.address])

    try {
      await validator.start()
    } catch (err: any) {
      // refusing to start is no answer either: note it, drop the record, go on
      notes.push(`${variant}: the node did not start (${String(err.message).split('\n')[0].slice(0, 120)})`)
      options.log(`[i] ${notes[notes.length - 1]}`)
      await undamage(validator.options.dataDir)
      await validator.start()
      continue
    }

    // at once, before the honest peer is back in it
    const listed = await adminRequest(validator.admin!, 'GET', '/peers').then((a: any) => a.discovery, () => '?')
    // what it prints about the list comes while it starts, or soon after
    await sleep(2_000)
    const warning = validator.output.split('\n').find(line => /discovery/i.test(line) && /corrupt|damaged|garbage|unreadable|invalid|ignor|truncat|decode|could not|cannot|warn/i.test(line))
    warned += warning == null ? 0 : 1
    notes.push(`${variant} (${bytes} bytes): ${warning == null ? 'nothing printed' : `"${warning.trim().slice(0, 120)}"`}, ${listed} in the discovery list after the start`)
    options.log(`[i] ${notes[notes.length - 1]}`)
  }

  // the honest side after the restarts: it finds the validator again, then the usual probes
  const back = Date.now()
  const recovered = await honestPath(nodes)
  notes.push(recovered ? `honest path back ${((Date.now() - back) / 1000).toFixed(1)} s after the last restart` : `honest path not back within ${RECOVERY_TIMEOUT / 1000} s`)
  const probes = new HonestProbes({ txAdmin: () => honest.admin, joinAddress: () => validator.address, secure: false })
  probes.start()
  await sleep(Math.max(options.quick ? 3_000 : 5_000, options.duration - (Date.now() - started)))
  await probes.stop()
  const seconds = (Date.now() - started) / 1000
  sampler.stop()
  const defence = { ok: warned === variants.length, text: `warned ${warned}/${variants.length} times` }
  return row('i', seconds, sampler, probes.results, validator, { stats: {}, notes, defence })
}

/** Write a damaged discovery record into a stopped node's datastore; returns its length */
async function damage (dataDir: string, variant: 'garbage' | 'truncated', known: string[]): Promise<number> {
  const datastore = new LevelDatastore(dataDir)
  await datastore.open()

  try {
    const key = new Key(DISCOVERY_LIST_KEY)
    let bytes: Uint8Array

    if (variant === 'garbage') {
      // random bytes that do not decode as a PeersAddresses (most do not; retry the rest)
      do {
        bytes = crypto.getRandomValues(new Uint8Array(200))
      } while (decodes(bytes))
    } else {
      let valid = await datastore.has(key) ? await datastore.get(key) : new Uint8Array(0)

      // a record of its own, unless the node rewrote a valid one (not the previous variant's garbage)
      if (valid.byteLength < 8 || !decodes(valid)) {
        valid = PeersAddresses.encode({ addresses: known })
      }

      // cut inside an address, so the last string's length runs past the end
      bytes = valid.subarray(0, valid.byteLength - Math.max(1, Math.floor(valid.byteLength / 3)))

      if (decodes(bytes)) {
        bytes = valid.subarray(0, valid.byteLength - 1)
      }
    }

    await datastore.put(key, bytes)
    return bytes.byteLength
  } finally {
    await datastore.close()
  }
}

async function undamage (dataDir: string): Promise<void> {
  const datastore = new LevelDatastore(dataDir)
  await datastore.open()
  await datastore.delete(new Key(DISCOVERY_LIST_KEY)).finally(async () => { await datastore.close() })
}

function decodes (bytes: Uint8Array): boolean {
  try {
    PeersAddresses.decode(bytes)
    return true
  } catch {
    return false
  }
}

/** Fork the attacker, give it its order, collect its counters and outcome */
async function attack (order: AttackOrder, options: SoakOptions, onStats: (stats: Record<string, number>) => void): Promise<AttackOutcome> {
  const child = options.workspace.child(fork(fileURLToPath(new URL('./attacker.ts', import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  }))
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-2_000) })

  return new Promise((resolve, reject) => {
    let settled = false
    child.on('message', (report: AttackerReport) => {
      if (report.kind === 'stats') {
        onStats(report.stats)
      } else if (report.kind === 'done') {
        settled = true
        resolve(report.outcome)
      } else {
        settled = true
        reject(new Error(`attacker: ${report.error}`))
      }
    })
    child.on('exit', (code) => {
      if (!settled) {
        reject(new Error(`attacker exited ${code} without an outcome${stderr === '' ? '' : `: ${stderr.trim().split('\n').slice(-1)[0]}`}`))
      }
    })
    child.send(order)
  })
}

function row (id: AttackId, seconds: number, sampler: Sampler, results: ProbeResult[], node: FabricProcess, outcome: AttackOutcome, error?: string): AttackRow {
  const tx = summarize(results, 'tx')
  const joined = summarize(results, 'join')
  const up = node.up
  const why: string[] = []
  const growth = (sampler.peak ?? 0) - (sampler.before ?? 0)

  if (error != null) {
    why.push(`the attack did not complete: ${error}`)
  }

  if (!up) {
    why.push(`node down: ${node.death ?? 'stopped'}`)
  }

  if (sampler.before != null && growth > RSS_GROWTH_LIMIT) {
    why.push(`RSS +${growth.toFixed(0)} MB`)
  }

  if (tx.failed + joined.failed > 0) {
    why.push(`${tx.failed + joined.failed} honest requests failed`)
  }

  if (tx.ok + joined.ok === 0 && tx.failed + joined.failed === 0) {
    why.push('no honest request was measured')
  }

  if (outcome.defence != null && !outcome.defence.ok) {
    why.push(outcome.defence.text)
  }

  return {
    id,
    title: ATTACK_TITLES[id],
    seconds,
    rss: { before: sampler.before, peak: sampler.peak, after: sampler.last },
    cpu: sampler.cpu,
    tx,
    join: joined,
    up,
    defence: outcome.defence,
    verdict: error != null ? 'error' : why.length === 0 ? 'pass' : 'fail',
    why,
    stats: outcome.stats,
    notes: [...outcome.notes, ...[...tx.errors, ...joined.errors].slice(0, 4).map(e => `honest failure, ${e}`)]
  }
}

function honestLine (results: ProbeResult[]): string {
  const tx = summarize(results, 'tx')
  const joined = summarize(results, 'join')
  return `honest tx ${tx.ok} ok ${tx.failed} failed${tx.median == null ? '' : ` p50 ${tx.median.toFixed(0)} ms`}, joins ${joined.ok} ok ${joined.failed} failed`
}

export function statsLine (stats: Record<string, number>): string {
  const entries = Object.entries(stats)
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')
}

function formatCount (n: number): string {
  if (!Number.isInteger(n)) return n.toFixed(1)
  return n >= 10_000_000 ? `${(n / 1e6).toFixed(0)}M` : n >= 100_000 ? `${(n / 1e3).toFixed(0)}k` : String(n)
}
