/**
 * npm run soak [-- --duration S] [--only a,c] [--quick] [--out FILE]
 *
 * Issue 13's hostile peers against a `fabric-peer node start` validator on
 * 127.0.0.1 (see soak.ts): each attack a-i (and j, found since) for --duration seconds (default
 * 20; --quick 5; attack e always opens its 300 connections at 4 a second,
 * ~85 s), then a table of the node's RSS, its CPU, what honest users got,
 * and a verdict per attack. The table goes to docs/bench/soak.md
 * (docs/bench/quick/soak.md with --quick); a run of some attacks (--only)
 * writes it only where --out says. --out - writes none.
 *
 * A pass: RSS growth (peak over before) at most 200 MB, every honest request
 * served, the node still up, and for f every DISC_GET_PEERS answered, for g
 * every web page request refused, for h no replayed or 30-day-old
 * transaction accepted, for i a warning printed about the damaged record.
 * j (a stranger gossips a validator that does not exist) is judged by the
 * honest transactions alone.
 *
 * SOAK_NODE_ROOT=DIR runs the nodes from another checkout's src/ (with its
 * own node_modules or a link to these), to see an attack before a defence.
 *
 * Exits 0 when every attack passes, 1 when one does not, 2 on bad options,
 * 3 when the run itself failed. Every node and temp directory it made is
 * removed, on Ctrl-C too.
 */

import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ATTACK_IDS, E_CONNECTIONS, E_PER_SECOND } from './attacks.js'
import { RSS_GROWTH_LIMIT, runSoak, statsLine } from './soak.js'
import { markdownTable, textTable } from './table.js'
import { Workspace } from './workspace.js'
import type { AttackId } from './attacks.js'
import type { AttackRow, Honest } from './soak.js'


function usage (problem: string): never {
  console.error(`${problem}\nusage: npm run soak -- [--duration S] [--only ${ATTACK_IDS.join(',')}] [--quick] [--out FILE|-]`)
  process.exit(2)
}

let values: { duration?: string, only?: string, quick?: boolean, out?: string }

try {
  ({ values } = parseArgs({
    options: {
      duration: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' }
    }
  }))
} catch (err: any) {
  usage(err.message)
}

const quick = values.quick === true
const seconds = Number(values.duration ?? (quick ? 5 : 20))

if (!Number.isFinite(seconds) || seconds < 1 || seconds > 600) {
  usage(`--duration must be seconds between 1 and 600, not ${values.duration}`)
}

// in the table's order: j poisons the discovery list it persists, so it runs last
const picked = values.only?.split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '') as AttackId[] | undefined
const attacks = picked == null ? ATTACK_IDS : [...ATTACK_IDS.filter(a => picked.includes(a)), ...picked.filter(a => !ATTACK_IDS.includes(a))]
const unknown = attacks.filter(a => !ATTACK_IDS.includes(a))

if (unknown.length > 0 || attacks.length === 0) {
  usage(`--only takes attacks among ${ATTACK_IDS.join(',')}, not ${values.only}`)
}

const out = values.out ?? (values.only != null ? undefined : fileURLToPath(new URL(`../../docs/bench/${quick ? 'quick/' : ''}soak.md`, import.meta.url)))
const nodeRoot = process.env.SOAK_NODE_ROOT

const workspace = new Workspace('fabric-soak')
workspace.exitOnSignals(line => { console.info(line) })
const started = performance.now()
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`

console.info(`libp2p-fabric-peer soak run (Node ${process.version}, ${availableParallelism()} cores): attacks ${attacks.join(',')}, ${seconds} s each${attacks.includes('e') ? ` (e: ${E_CONNECTIONS} connections at ${E_PER_SECOND}/s, at least ${E_CONNECTIONS / E_PER_SECOND + 10} s)` : ''}`)
console.info(`temp dir ${workspace.dir}${nodeRoot == null ? '' : `; nodes from ${nodeRoot}`}`)

let rows: AttackRow[]

try {
  rows = await runSoak({ attacks, duration: seconds * 1000, quick, workspace, log: line => { console.info(line.startsWith('\n') ? line : `[${elapsed()}] ${line}`) } })
} catch (err: any) {
  console.error(`\nsoak run failed: ${err.stack ?? err.message}`)
  await workspace.cleanup()
  process.exit(3)
}

await workspace.cleanup()
const total = (performance.now() - started) / 1000

const headers = ['attack', 'RSS MB before/peak/after', 'node CPU s', 'honest tx ms p50/max', 'new peer ms p50/max', 'honest failed', 'verdict']
const cells = rows.map(r => [
  `${r.id}. ${r.title}`,
  `${mb(r.rss.before)} / ${mb(r.rss.peak)} / ${mb(r.rss.after)}`,
  r.cpu == null ? '-' : r.cpu.toFixed(1),
  latency(r.tx),
  latency(r.join),
  `${r.tx.failed + r.join.failed}/${r.tx.ok + r.tx.failed + r.join.ok + r.join.failed}`,
  r.verdict === 'pass' ? 'pass' : `${r.verdict.toUpperCase()}: ${r.why.join('; ')}`
])

console.info(`\nsoak run: ${rows.filter(r => r.verdict === 'pass').length}/${rows.length} attacks passed in ${total.toFixed(0)} s\n`)
console.info(textTable(headers, cells))
console.info('')

for (const r of rows) {
  console.info(`${r.id}. ${r.seconds.toFixed(0)} s; attacker: ${statsLine(r.stats)}${r.defence == null ? '' : `; ${r.defence.text}`}`)
  r.notes.forEach(n => { console.info(`   ${n}`) })
}

if (out != null && out !== '-') {
  writeFileSync(out, markdown(rows, cells, headers, total))
  console.info(`\ntable written to ${out}`)
}

process.exit(rows.every(r => r.verdict === 'pass') ? 0 : 1)

function markdown (rows: AttackRow[], cells: string[][], headers: string[], total: number): string {
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
  return [
    '# Soak run: issue 13\'s hostile peers',
    '',
    `\`npm run soak${quick ? ' -- --quick' : ''}${values.only != null ? ` --only ${attacks.join(',')}` : ''}${values.duration != null ? ` --duration ${seconds}` : ''}\`, ${new Date().toISOString().slice(0, 10)}, on ${machine}: ` +
      `${seconds} s per attack (e: until its ${E_CONNECTIONS} connections are open at ${E_PER_SECOND}/s, then 10 s), ${total.toFixed(0)} s in all` +
      `${nodeRoot == null ? '' : `, nodes run from ${nodeRoot}`}.`,
    '',
    'A `fabric-peer node start` validator (from source, 127.0.0.1, its own data directory) and an honest non-validator',
    '(another CLI node, the validator as its root node); the attacks come from a separate attacker process writing raw',
    'frames on streams it opens itself (`test/soak/attacks.ts`). RSS is the validator process\'s VmRSS, sampled every',
    '250 ms; "after" is 3 s after the attack (1 s with --quick). Honest users: a transaction through the honest',
    'non-validator\'s admin API every second (forwarded to the validator), and a new peer (a fresh identity, a non-validator)',
    `dialing the validator and completing a chat hello every 2 s. A pass: RSS growth at most ${RSS_GROWTH_LIMIT} MB, every honest`,
    'request served, the node up, and f: every DISC_GET_PEERS answered; g: every web page request refused; h: no replay',
    'or 30-day-old transaction accepted; i: a warning printed about the damaged record.',
    '',
    markdownTable(headers, cells),
    '',
    '## Per attack',
    '',
    ...rows.flatMap(r => [
      `- **${r.id}. ${r.title}** (${r.seconds.toFixed(0)} s). Attacker: ${statsLine(r.stats)}.${r.defence == null ? '' : ` ${r.defence.text}.`}`,
      ...r.notes.map(n => `  - ${n}${n.endsWith('.') ? '' : '.'}`)
    ]),
    ''
  ].join('\n')
}

function latency (h: Honest): string {
  return h.median == null ? '-' : `${h.median.toFixed(0)} / ${h.max!.toFixed(0)}`
}

function mb (n?: number): string {
  return n == null ? '-' : n.toFixed(0)
}

