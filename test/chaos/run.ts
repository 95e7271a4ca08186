/**
 * npm run chaos [-- --mode loopback|netns|all] [--duration S] [--seed N]
 *
 * 1. loopback: 10 nodes (6 validators, 4 non-validators) as processes on
 *    127.0.0.1; random SIGKILLs and restarts for --duration seconds while a
 *    client submits transactions; then the recovery conditions.
 * 2. netns: the same with every node in its own network namespace, plus links
 *    cut and restored; then 16 nodes in namespaces with 50 ms delay and 1 %
 *    loss (tc netem) until they converge and chat. Each part says why it is
 *    skipped where the machine cannot do it (not root, no iproute2, no netem).
 *
 * Exits 1 if any condition fails in a part that ran.
 */

import { parseArgs } from 'node:util'
import { Harness } from '../../src/testing/index.js'
import { Netns, netnsSupport } from '../harness/index.js'
import { runChaos } from './chaos.js'
import type { ChaosReport } from './chaos.js'

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'all' },
    duration: { type: 'string', default: '60' },
    seed: { type: 'string' }
  }
})
const mode = values.mode ?? 'all'
if (!['loopback', 'netns', 'all'].includes(mode)) {
  console.error(`--mode must be loopback, netns or all, not ${mode}`)
  process.exit(2)
}
const duration = Number(values.duration) * 1000
if (!Number.isFinite(duration) || duration <= 0 || duration > 600_000) {
  console.error(`--duration must be seconds between 1 and 600, not ${values.duration}`)
  process.exit(2)
}
const seed = values.seed != null ? Number(values.seed) : Date.now() % 1_000_000
const started = performance.now()
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`
let failed = false

function print (title: string, r: ChaosReport): void {
  const recovered = Number.isFinite(r.recoveryMs) && r.recoveryMs <= r.recoveryBoundMs
  console.info(`\n${title}: ${r.ok && recovered ? 'PASSED' : 'FAILED'} (seed ${r.options.seed}, replay with --seed ${r.options.seed})`)
  const rows: Array<[string, string, boolean]> = [
    ['faults', `${r.faults.filter(f => f.kind === 'kill').length} SIGKILL + restart, ${r.faults.filter(f => f.kind === 'cut').length} link cuts, over ${(r.options.duration / 1000).toFixed(0)} s`, true],
    ['recovery after the last fault', `${(r.recoveryMs / 1000).toFixed(2)} s (bound: touchPeriod + 2 s = ${(r.recoveryBoundMs / 1000).toFixed(1)} s)`, recovered],
    ['transactions', `${r.transactions.submitted} submitted: ${r.transactions.success} SUCCESS, ${r.transactions.failure} FAILURE, ${r.transactions.noAnswer} without answer (node killed mid-request)`, true],
    ['SUCCESS missing from a ledger', `${new Set(r.missing.map(m => m.txid)).size}`, r.missing.length === 0],
    ['validator ledgers', `${r.ledgers.map(l => `${l.name} ${l.height}/${l.head}`).join(', ')}`, new Set(r.ledgers.map(l => l.head)).size === 1],
    ['discovery lists after SIGKILL of all', r.lists.map(l => `${l.name} ${l.error != null ? 'UNREADABLE' : l.addresses}`).join(', '), r.lists.every(l => l.error == null && l.addresses > 0)],
    ['unhandled rejections / crashes', `${r.failures.length}`, r.failures.length === 0]
  ]
  for (const [what, value, ok] of rows) console.info(`  ${ok ? 'ok  ' : 'FAIL'}  ${what.padEnd(38)} ${value}`)
  for (const p of r.problems) console.info(`  problem: ${p}`)
  if (!r.ok || !recovered) failed = true
}

console.info(`libp2p-fabric-peer chaos run (Node ${process.version}): mode ${mode}, ${duration / 1000} s of faults per part`)

if (mode === 'loopback' || mode === 'all') {
  console.info(`\n[${elapsed()}] loopback: 6 validators + 4 non-validators as processes on 127.0.0.1, SIGKILLs and restarts`)
  print('loopback', await runChaos({ duration, seed, progress: line => { console.info(line) } }))
}

if (mode === 'netns' || mode === 'all') {
  const support = netnsSupport()
  if (!support.ok) {
    console.info(`\n[${elapsed()}] netns: SKIPPED - ${support.reason}`)
  } else {
    console.info(`\n[${elapsed()}] netns: 6 validators + 4 non-validators, each in its own network namespace on a bridge; SIGKILLs, restarts, links cut and restored`)
    print('netns', await runChaos({ netns: true, duration, seed: seed + 1, progress: line => { console.info(line) } }))

    let impairment: { delay?: number, loss?: number }
    if (support.netem) {
      impairment = { delay: 50, loss: 1 }
      console.info(`\n[${elapsed()}] netns: 16 nodes (12 validators, 4 non-validators), 50 ms delay and 1 % loss on every link (tc netem)`)
    } else if (support.iptablesLoss) {
      impairment = { loss: 1 }
      console.info(`\n[${elapsed()}] netns: 16 nodes (12 validators, 4 non-validators), 1 % loss each way on every node (iptables statistic); the 50 ms delay is SKIPPED - ${support.netemReason}`)
    } else {
      impairment = {}
      console.info(`\n[${elapsed()}] netns, 16 nodes with 50 ms delay and 1 % loss: SKIPPED - ${support.netemReason}, and no iptables for loss`)
      console.info('  measuring the same 16 nodes in namespaces without delay or loss instead:')
    }
    const h = await Harness.create({ placement: new Netns(impairment), progress: line => { console.info(line) }, defaults: { fabric: { discoveryPeriod: 1_000, touchPeriod: 2_000 } } })
    try {
      const t0 = Date.now()
      await h.start([{ name: 'vp0', root: true }, ...Array.from({ length: 11 }, (_, i) => ({ name: `vp${i + 1}` })), ...Array.from({ length: 4 }, (_, i) => ({ name: `nvp${i}`, validator: false }))])
      const listening = Date.now()
      const ms = await h.waitFor(h.topology(), 120_000)
      const tx = await h.submit('nvp0', `netns-${seed}`)
      await h.waitFor({ what: 'the transaction in every validator', check: hh => hh.statuses().filter(s => s.validator).every(s => s.height >= 1) }, 30_000)
      console.info(`  converged: 66 validator chats + 8 non-validator chats ${(ms / 1000).toFixed(2)} s after all 16 were listening (${((listening - t0 + ms) / 1000).toFixed(2)} s from the first start); a transaction at nvp0: ${tx.status} in ${tx.ms.toFixed(0)} ms, in every validator's ledger`)
    } catch (err: any) {
      console.info(`  FAILED: ${err.message}`)
      failed = true
    } finally {
      await h.close()
    }
  }
}

console.info(`\n[${elapsed()}] chaos run ${failed ? 'FAILED' : 'passed'}`)
process.exit(failed ? 1 : 0)
