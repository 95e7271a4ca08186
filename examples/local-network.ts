/**
 * A local Fabric network: validators and non-validators as separate processes
 * on 127.0.0.1, each with its own LevelDB data directory, only the first
 * validator as root node. It shows the network converging, transactions
 * submitted at a non-validator reaching every validator's ledger, a validator
 * killed with SIGKILL, the root node stopped, and the killed validator
 * restarted and rejoining from its persisted discovery list alone.
 *
 *   npm start                                    # 4 validators, 2 non-validators
 *   npm start -- --validators 6 --non-validators 3 --transactions 50
 *   npm start -- --keep                          # keep the network up until Ctrl-C
 *   DEBUG=libp2p:fabric* npm start               # the library's own logs (from every peer)
 */

import { fork } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { ParentCommand, PeerConfig, PeerReply, PeerStatus } from './network/peer.js'
import type { ChildProcess } from 'node:child_process'

const { values: flags } = parseArgs({
  options: {
    validators: { type: 'string', default: '4' },
    'non-validators': { type: 'string', default: '2' },
    transactions: { type: 'string', default: '10' },
    data: { type: 'string', default: 'data/local-network' },
    keep: { type: 'boolean', default: false },
    'discovery-period': { type: 'string', default: '1000' },
    'touch-period': { type: 'string', default: '1500' },
    help: { type: 'boolean', default: false }
  }
})

if (flags.help) {
  console.info(`usage: npm start -- [--validators N] [--non-validators M] [--transactions T] [--data DIR]
                  [--discovery-period MS] [--touch-period MS] [--keep]

Starts N validators (the first is the root node) and M non-validators as separate processes on
127.0.0.1, each with a LevelDB data directory under DIR, and runs the story: convergence,
T transactions at a non-validator, a validator killed (SIGKILL), the root node stopped, the killed
validator restarted. --keep leaves the network running until Ctrl-C. Periods default to 1 s and
1.5 s so the story takes seconds; Fabric's own defaults are 5 s and 6 s.`)
  process.exit(0)
}

const V = whole('validators', 1)
const N = whole('non-validators', 0)
const T = whole('transactions', 0)
const DISCOVERY_PERIOD = whole('discovery-period', 100)
const TOUCH_PERIOD = whole('touch-period', 100)
const STEP_TIMEOUT = 60_000

interface Peer {
  config: PeerConfig
  child?: ChildProcess
  status?: PeerStatus
  state: 'starting' | 'up' | 'killed' | 'stopped'
}

const peers: Peer[] = []
const started = performance.now()
const timings: Array<[string, number]> = []
const interactive = process.stdout.isTTY === true
let drawn = 0

function whole (name: keyof typeof flags, min: number): number {
  const value = Number(flags[name])
  if (!Number.isInteger(value) || value < min) fail(`--${name} must be a whole number >= ${min}, got ${String(flags[name])}`)
  return value
}

function fail (reason: string): never {
  // the state the network was stuck in
  if (!interactive || drawn > 0) draw()
  console.error(`\nFAILED: ${reason}`)
  void shutdown().finally(() => process.exit(1))
  throw new Error(reason)
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`
const now = (): string => seconds(performance.now() - started).padStart(6)
const names = (): Map<string, string> => new Map(peers.filter(p => p.status != null).map(p => [p.status!.peerId, p.config.name]))

function say (line: string): void {
  if (interactive && drawn > 0) {
    // keep the live table below the log lines
    process.stdout.write(`\x1b[${drawn}A\x1b[0J`)
    drawn = 0
  }
  console.info(`${now()}  ${line}`)
}

/** The table of peers: role, chats, ledger height */
function table (): string[] {
  const byId = names()
  const rows = [['peer', 'role', 'state', 'validator chats', 'NVP chats', 'known', 'height', 'head']]
  for (const p of peers) {
    const s = p.status
    const up = p.state === 'up' && s != null
    rows.push([
      p.config.name,
      p.config.validator ? 'validator' : 'non-validator',
      p.state,
      up ? s.validators.map(id => byId.get(id) ?? '?').sort().join(' ') || '-' : '',
      up ? s.nonValidators.map(id => byId.get(id) ?? '?').sort().join(' ') || '-' : '',
      up ? String(s.discovery) : '',
      // non-validators keep no ledger
      s != null && p.config.validator ? String(s.height) : '-',
      s != null && p.config.validator ? s.head || '-' : '-'
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

function start (peer: Peer): void {
  peer.state = 'starting'
  peer.status = undefined
  const child = fork(new URL('./network/peer.ts', import.meta.url).pathname, [JSON.stringify(peer.config)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  peer.child = child
  child.on('message', (msg: PeerReply) => {
    if (msg.kind === 'status' && peer.child === child) {
      peer.status = msg
      // restarts reuse the port, as a deployed node keeps its configured address
      peer.config.port = Number(msg.address.split('/')[4] ?? 0)
      if (peer.state === 'starting') peer.state = 'up'
    }
  })
  child.on('exit', (code, signal) => {
    if (peer.child === child && peer.state === 'up') {
      fail(`${peer.config.name} exited unexpectedly (${signal ?? `code ${code}`})`)
    }
  })
}

async function until (what: string, condition: () => boolean, timeout = STEP_TIMEOUT): Promise<number> {
  const t0 = performance.now()
  while (!condition()) {
    if (performance.now() - t0 > timeout) fail(`timed out after ${seconds(timeout)} waiting for ${what}`)
    if (interactive) draw()
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  const took = performance.now() - t0
  timings.push([what, took])
  return took
}

async function request<T extends PeerReply['kind']> (peer: Peer, cmd: ParentCommand, kind: T): Promise<Extract<PeerReply, { kind: T }>> {
  return new Promise((resolve) => {
    const onMessage = (msg: PeerReply): void => {
      if (msg.kind === kind) {
        peer.child?.off('message', onMessage)
        resolve(msg as Extract<PeerReply, { kind: T }>)
      }
    }
    peer.child?.on('message', onMessage)
    peer.child?.send(cmd)
  })
}

async function stopPeer (peer: Peer): Promise<void> {
  const child = peer.child
  if (child == null || child.exitCode != null) return
  peer.state = 'stopped'
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.send({ cmd: 'stop' } satisfies ParentCommand)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function shutdown (): Promise<void> {
  await Promise.all(peers.map(async p => stopPeer(p)))
}

process.on('SIGINT', () => {
  say('Ctrl-C: stopping every peer')
  void shutdown().then(() => process.exit(0))
})

// a live network's view of itself
const validators = (): Peer[] => peers.filter(p => p.config.validator && p.state === 'up')
const nonValidators = (): Peer[] => peers.filter(p => !p.config.validator && p.state === 'up')
const idsOf = (list: Peer[]): Set<string> => new Set(list.map(p => p.status?.peerId ?? ''))

/** Every live validator chats with every other; every non-validator with min(2, validators) of them and no NVP */
function converged (): boolean {
  const live = validators()
  const ids = idsOf(live)
  return peers.every(p => p.state !== 'starting') &&
    live.every(p => [...ids].every(id => id === p.status?.peerId || p.status?.validators.includes(id))) &&
    nonValidators().every(p => p.status!.validators.filter(id => ids.has(id)).length >= Math.min(2, live.length) && p.status!.nonValidators.length === 0)
}

// ---- the story ----

console.info(`libp2p-fabric-peer local network: ${V} validators, ${N} non-validators on 127.0.0.1 (Node ${process.version})`)
console.info(`data in ${flags.data}/, discovery period ${seconds(DISCOVERY_PERIOD)}, touch period ${seconds(TOUCH_PERIOD)}\n`)
await rm(flags.data, { recursive: true, force: true })

for (let i = 0; i < V + N; i++) {
  const validator = i < V
  const name = validator ? `vp${i}` : `nvp${i - V}`
  peers.push({ config: { name, dataDir: join(flags.data, name), validator, rootNodes: [], discoveryPeriod: DISCOVERY_PERIOD, touchPeriod: TOUCH_PERIOD, port: 0 }, state: 'stopped' })
}

const root = peers[0]
start(root)
await until('the root node to start', () => root.state === 'up')
const rootAddress = root.status!.address
say(`vp0 (root node) listening at ${rootAddress}`)

for (const p of peers.slice(1)) {
  p.config.rootNodes = [rootAddress]
  start(p)
}
say(`started ${peers.length - 1} more peers, each knowing only the root node`)
const convergence = await until('the network to converge', converged)
draw()
say(`converged in ${seconds(convergence)}: validators in a full mesh, each non-validator with ${Math.min(2, V)} validators`)

if (T > 0 && N > 0) {
  const client = nonValidators()[0]
  const baseHeight = Math.max(...validators().map(p => p.status!.height))
  say(`submitting ${T} transactions at ${client.config.name} (a non-validator: it forwards them to a validator)`)
  const latencies: number[] = []
  const t0 = performance.now()
  for (let i = 0; i < T; i++) {
    const res = await request(client, { cmd: 'submit', txid: `tx-${i + 1}` }, 'submitted')
    if (!res.ok) fail(`transaction ${res.txid} failed: ${res.message}`)
    latencies.push(res.ms)
  }
  const submitTime = performance.now() - t0
  timings.push([`${T} transactions acknowledged`, submitTime])
  const target = baseHeight + T
  await until(`every validator at height ${target}`, () => validators().every(p => p.status!.height === target))
  const heads = new Set(validators().map(p => p.status!.head))
  if (heads.size !== 1) fail(`validators reached height ${target} on different chains: ${[...heads].join(', ')}`)
  draw()
  latencies.sort((a, b) => a - b)
  say(`${T} transactions in ${seconds(submitTime)}: every validator at height ${target}, same head block ${[...heads][0]} (median ${latencies[Math.floor(latencies.length / 2)]} ms per transaction)`)
}

if (V >= 3) {
  const victim = peers[V - 1]
  say(`killing ${victim.config.name} with SIGKILL`)
  victim.state = 'killed'
  victim.child?.kill('SIGKILL')
  await until(`the others to notice ${victim.config.name} is gone`, () => validators().every(p => !p.status!.validators.includes(victim.status!.peerId)))

  say('stopping the root node vp0')
  await stopPeer(root)

  say(`restarting ${victim.config.name} with its data directory; its only root node is down`)
  start(victim)
  const rejoin = await until(`${victim.config.name} to rejoin every live validator from its persisted list`, converged)
  draw()
  say(`${victim.config.name} rejoined in ${seconds(rejoin)} (same PeerId, ledger height ${victim.status!.height})`)
}

console.info('\nSummary')
for (const [what, ms] of timings) {
  console.info(`  ${seconds(ms).padStart(6)}  ${what}`)
}

if (flags.keep) {
  say('the network keeps running: Ctrl-C to stop it')
  setInterval(draw, 500)
} else {
  await shutdown()
  console.info(`\nAll peers stopped cleanly after ${seconds(performance.now() - started)}. Data stays in ${flags.data}/.`)
  process.exit(0)
}
