/**
 * A local Fabric network: validators and non-validators as separate processes
 * on 127.0.0.1, each with its own LevelDB data directory, only the first
 * validator as root node. It shows the network converging, transactions
 * submitted at a non-validator reaching every validator's ledger, a validator
 * killed with SIGKILL, the root node stopped, and the killed validator
 * restarted and rejoining from its persisted discovery list alone.
 *
 * The processes are run by the multi-node harness, `libp2p-fabric-peer/testing`.
 *
 *   npm start                                    # 4 validators, 2 non-validators
 *   npm start -- --validators 6 --non-validators 3 --transactions 50
 *   npm start -- --keep                          # keep the network up until Ctrl-C
 *   DEBUG=libp2p:fabric* npm start               # the library's own logs (from every peer)
 */

import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Harness, percentile } from '../src/testing/index.js'
import type { Condition, NodeSpec } from '../src/testing/index.js'

const { values: flags } = parseArgs({
  options: {
    validators: { type: 'string', default: '4' },
    'non-validators': { type: 'string', default: '2' },
    transactions: { type: 'string', default: '10' },
    missed: { type: 'string', default: '200' },
    data: { type: 'string', default: 'data/local-network' },
    keep: { type: 'boolean', default: false },
    'discovery-period': { type: 'string', default: '1000' },
    'touch-period': { type: 'string', default: '1500' },
    help: { type: 'boolean', default: false }
  }
})

if (flags.help) {
  console.info(`usage: npm start -- [--validators N] [--non-validators M] [--transactions T] [--missed K] [--data DIR]
                  [--discovery-period MS] [--touch-period MS] [--keep]

Starts N validators (the first is the root node) and M non-validators as separate processes on
127.0.0.1, each with a LevelDB data directory under DIR, and runs the story: convergence,
T transactions at a non-validator, a validator killed (SIGKILL), K transactions it misses, the root
node stopped, the killed validator restarted and catching up the K blocks it missed. --keep leaves the network running until Ctrl-C. Periods default to 1 s and
1.5 s so the story takes seconds; Fabric's own defaults are 5 s and 6 s. Each peer's output is in
DIR/logs/.`)
  process.exit(0)
}

const V = whole('validators', 1)
const N = whole('non-validators', 0)
const T = whole('transactions', 0)
const K = whole('missed', 0)
const DISCOVERY_PERIOD = whole('discovery-period', 100)
const TOUCH_PERIOD = whole('touch-period', 100)
const STEP_TIMEOUT = 60_000

const started = performance.now()
const timings: Array<[string, number]> = []
const interactive = process.stdout.isTTY === true
let drawn = 0

function whole (name: keyof typeof flags, min: number): number {
  const value = Number(flags[name])
  if (!Number.isInteger(value) || value < min) {
    console.error(`FAILED: --${name} must be a whole number >= ${min}, got ${String(flags[name])}`)
    process.exit(1)
  }
  return value
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`
const now = (): string => seconds(performance.now() - started).padStart(6)

function say (line: string): void {
  if (interactive && drawn > 0) {
    // keep the live table below the log lines
    process.stdout.write(`\x1b[${drawn}A\x1b[0J`)
    drawn = 0
  }
  console.info(`${now()}  ${line}`)
}

// ---- the network ----

console.info(`libp2p-fabric-peer local network: ${V} validators, ${N} non-validators on 127.0.0.1 (Node ${process.version})`)
console.info(`data in ${flags.data}/, discovery period ${seconds(DISCOVERY_PERIOD)}, touch period ${seconds(TOUCH_PERIOD)}\n`)
const data = resolve(flags.data)
await rm(data, { recursive: true, force: true })

const h = await Harness.create({
  dir: data,
  // every peer's output (DEBUG logs, crashes) here too, not only in DIR/logs/
  echo: true,
  statusInterval: 200,
  defaults: {
    fabric: {
      discoveryPeriod: DISCOVERY_PERIOD,
      touchPeriod: TOUCH_PERIOD,
      dialBackoffInitial: TOUCH_PERIOD,
      // a short window: a SIGKILL loses at most this much of the list's changes
      persistDelay: 250
    }
  }
})

const peer = (name: string, validator: boolean): NodeSpec => ({ name, validator, dataDir: join(data, name) })
const specs = [
  ...Array.from({ length: V }, (_, i) => peer(`vp${i}`, true)),
  ...Array.from({ length: N }, (_, i) => peer(`nvp${i}`, false))
]
const live = (validator: boolean): string[] => h.up().filter(n => (n.spec.validator !== false) === validator).map(n => n.spec.name)

/** The table of peers: role, chats, ledger height */
function table (): string[] {
  const names = new Map(h.all().map(n => [n.peerId, n.spec.name]))
  const rows = [['peer', 'role', 'state', 'validator chats', 'NVP chats', 'known', 'height', 'head']]
  for (const n of h.all()) {
    const s = n.status
    const up = n.state === 'up' && s != null
    const validator = n.spec.validator !== false
    rows.push([
      n.spec.name,
      validator ? 'validator' : 'non-validator',
      n.state,
      up ? s.validators.map(id => names.get(id) ?? '?').sort().join(' ') || '-' : '',
      up ? s.nonValidators.map(id => names.get(id) ?? '?').sort().join(' ') || '-' : '',
      up ? String(s.discovery) : '',
      // non-validators keep no ledger
      s != null && validator ? String(s.height) : '-',
      s != null && validator ? s.head || '-' : '-'
    ])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  return rows.map(r => '  ' + r.map((c, j) => c.padEnd(widths[j])).join('  ').trimEnd())
}

function draw (): void {
  const lines = table()
  if (interactive) {
    if (drawn > 0) process.stdout.write(`\x1b[${drawn}A\x1b[0J`)
    process.stdout.write(lines.join('\n') + '\n')
    drawn = lines.length
  } else {
    console.info(lines.join('\n'))
  }
}

/** Wait for `condition` (after `before`, if given), redrawing the table on a terminal; a step of the summary */
async function step (what: string, condition: Omit<Condition, 'what'>, before?: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  const redraw = interactive ? setInterval(draw, 200) : undefined
  try {
    await before?.()
    // a peer that crashes ends the wait at once
    await h.waitFor({ what, check: hh => hh.failures.length > 0 || condition.check(hh), describe: condition.describe }, STEP_TIMEOUT)
  } finally {
    clearInterval(redraw)
  }
  if (h.failures.length > 0) throw new Error(`${h.failures[0].node}: ${h.failures[0].error.split('\n')[0]} (log: ${h.logOf(h.failures[0].node)})`)
  const took = performance.now() - t0
  timings.push([what, took])
  return took
}

process.on('SIGINT', () => {
  say('Ctrl-C: stopping every peer')
  void h.close().then(() => process.exit(0))
})

// ---- the story ----

try {
  await step('the root node to start', { check: () => true }, async () => h.start([{ ...specs[0], root: true }]))
  say(`vp0 (root node) listening at ${h.node('vp0').address}`)

  // each knows the root node only (the harness's default: every node marked root)
  const starting = h.start(specs.slice(1))
  say(`started ${specs.length - 1} more peers, each knowing only the root node`)
  const convergence = await step('the network to converge', h.topology(2), async () => starting)
  draw()
  say(`converged in ${seconds(convergence)}: validators in a full mesh, each non-validator with ${Math.min(2, V)} validators`)

  if (T > 0 && N > 0) {
    const client = live(false)[0]
    const validators = (): number[] => h.statuses().filter(s => s.validator).map(s => s.height)
    const baseHeight = Math.max(...validators())
    say(`submitting ${T} transactions at ${client} (a non-validator: it forwards them to a validator)`)
    const latencies: number[] = []
    const t0 = performance.now()
    for (let i = 0; i < T; i++) {
      const res = await h.submit(client, `tx-${i + 1}`, `transfer #tx-${i + 1}`)
      if (res.status !== 'SUCCESS') throw new Error(`transaction ${res.txid} failed: ${res.message}`)
      latencies.push(res.ms)
    }
    const submitTime = performance.now() - t0
    timings.push([`${T} transactions acknowledged`, submitTime])
    const target = baseHeight + T
    await step(`every validator at height ${target}`, { check: () => validators().every(height => height === target) })
    const heads = new Set(h.statuses().filter(s => s.validator).map(s => s.head))
    if (heads.size !== 1) throw new Error(`validators reached height ${target} on different chains: ${[...heads].join(', ')}`)
    draw()
    say(`${T} transactions in ${seconds(submitTime)}: every validator at height ${target}, same head block ${[...heads][0]} (median ${percentile(latencies, 0.5).toFixed(0)} ms per transaction)`)
  }

  if (V >= 3) {
    const victim = `vp${V - 1}`
    const peerId = h.node(victim).peerId!
    say(`killing ${victim} with SIGKILL`)
    await h.kill(victim)
    await step(`the others to notice ${victim} is gone`, { check: hh => hh.statuses().every(s => !s.validators.includes(peerId)) })

    const missedFrom = Math.max(...h.statuses().filter(s => s.validator).map(s => s.height))
    if (K > 0 && N > 0) {
      // while it is down the network goes on: blocks it will have to fetch
      const client = live(false)[0]
      const t0 = performance.now()
      let next = 0
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < K) {
          const i = ++next
          const res = await h.submit(client, `missed-${i}`, `made while ${victim} was down #${i}`)
          if (res.status !== 'SUCCESS') throw new Error(`transaction ${res.txid} failed: ${res.message}`)
        }
      }))
      timings.push([`${K} transactions while ${victim} was down`, performance.now() - t0])
      say(`${K} transactions while ${victim} was down: the live validators at height ${missedFrom + K}`)
    }

    say('stopping the root node vp0')
    await h.stop('vp0')

    say(`restarting ${victim} with its data directory; its only root node is down`)
    // a restarted validator waits two touch periods before it sequences: by then the others know it is back
    const rejoin = await step(`${victim} to rejoin every live validator from its persisted list`, h.topology(2),
      async () => h.restart(victim, { spec: { settleTime: 2 * TOUCH_PERIOD } }))
    if (h.node(victim).peerId !== peerId) throw new Error(`${victim} came back as ${h.node(victim).peerId}, not ${peerId}`)
    draw()
    say(`${victim} rejoined in ${seconds(rejoin)} (same PeerId, ledger height ${h.node(victim).status!.height})`)

    // it fetches what it missed through RemoteLedger, checking every block, before it may sequence again
    const target = Math.max(...h.statuses().filter(s => s.validator && s.name !== victim).map(s => s.height))
    const missed = target - missedFrom
    const caughtUp = await step(`${victim} to catch up to height ${target}`, { check: hh => hh.statuses().find(s => s.name === victim)?.height === target })
    const heads = new Set(h.statuses().filter(s => s.validator).map(s => s.head))
    if (heads.size !== 1) throw new Error(`after catching up the validators are on different chains: ${[...heads].join(', ')}`)
    draw()
    const fetched = h.node(victim).status?.lastCatchUp
    const speed = fetched == null ? '' : `: fetched through RemoteLedger and checked in ${(fetched.ms / 1000).toFixed(2)}s, ${Math.round(fetched.blocks / (fetched.ms / 1000)).toLocaleString('en')} blocks/s`
    say(`${victim} caught up the ${missed} blocks it missed, ${seconds(rejoin + caughtUp)} after its restart${speed}; same head block ${[...heads][0]} as every validator`)
  }
} catch (err: any) {
  // the state the network was stuck in
  if (!interactive || drawn > 0) draw()
  console.error(`\nFAILED: ${err.message}`)
  await h.close()
  process.exit(1)
}

console.info('\nSummary')
for (const [what, ms] of timings) {
  console.info(`  ${seconds(ms).padStart(6)}  ${what}`)
}

if (flags.keep) {
  say('the network keeps running: Ctrl-C to stop it')
  setInterval(draw, 500)
} else {
  await h.close()
  if (h.failures.length > 0) {
    console.error(`\nFAILED: ${h.failures.map(f => `${f.node}: ${f.error}`).join('; ')}`)
    process.exit(1)
  }
  console.info(`\nAll peers stopped cleanly after ${seconds(performance.now() - started)}. Data stays in ${flags.data}/.`)
  process.exit(0)
}
