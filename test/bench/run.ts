/**
 * npm run bench [-- --quick]: every benchmark against baselines measured in
 * the same run, printed as tables of ratios and written to
 * test/bench/results/ (latest.json, latest.md, SVG charts).
 *
 * One machine, 2 cores, both ends of a connection in this process: single runs
 * vary by up to 2x, so each comparison gets a warm-up and the transports take
 * turns over rounds, medians compared (the range is shown).
 */

import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { bigMessages, broadcastRate, memoryPerChat, roundTrips } from './chat-bench.js'
import { barChart, lineChart } from './charts.js'
import { convergence, PERIODS, rejoin, touchTickCost } from './network-bench.js'
import { chatRate, grpcRate, rawLibp2pRate, rawTcpRate } from './p1-rate.js'
import type { RateResult } from './p1-rate.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const quick = values.quick
const started = performance.now()
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
const OUT = quick ? 'test/bench/results/quick' : 'test/bench/results'

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const k = (x: number): string => Math.round(x).toLocaleString('en')
const x2 = (x: number): string => `${x.toFixed(2)}×`
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`
const section = (title: string): void => { console.info(`\n[${elapsed()}] ${title}`) }

interface Target { id: string, what: string, measured: string, wanted: string, met: boolean }
const targets: Target[] = []
const report: Record<string, unknown> = { date: new Date().toISOString(), machine, quick }
const md: string[] = []

console.info(`libp2p-fabric-peer benchmarks${quick ? ' (quick)' : ''} on ${machine}`)

// ---- P1 ----
{
  const messages = quick ? 20_000 : 100_000
  const rounds = quick ? 1 : 5
  section(`P1 one-way rate, 100-byte CONSENSUS messages: ${messages} per run, ${rounds} round(s)`)
  const transports: Array<[string, (n: number) => Promise<RateResult>]> = [
    ['raw TCP socket', rawTcpRate],
    ['raw libp2p stream', rawLibp2pRate],
    ['fabric chat', chatRate],
    ['grpc-js plaintext', async n => grpcRate(n, false)],
    ['grpc-js TLS', async n => grpcRate(n, true)]
  ]
  const samples = new Map<string, number[]>(transports.map(([name]) => [name, []]))
  for (const [, run] of transports) await run(Math.min(messages, 10_000))

  for (let round = 1; round <= rounds; round++) {
    const line: string[] = []
    for (const [name, run] of transports) {
      const r = await run(messages)
      samples.get(name)!.push(r.rate)
      line.push(`${name} ${Math.round(r.rate / 1000)}k`)
    }
    console.info(`  round ${round}: ${line.join(', ')}`)
  }

  const rows = transports.map(([name]) => ({ name, rate: median(samples.get(name)!), min: Math.min(...samples.get(name)!), max: Math.max(...samples.get(name)!) }))
  const rate = (name: string): number => rows.find(r => r.name === name)!.rate
  const chat = rate('fabric chat')
  targets.push(
    { id: 'P1', what: 'chat vs raw libp2p stream, 100 B', measured: x2(chat / rate('raw libp2p stream')), wanted: '≥ 0.9×', met: chat / rate('raw libp2p stream') >= 0.9 },
    { id: 'P1', what: 'chat vs grpc-js plaintext, 100 B', measured: x2(chat / rate('grpc-js plaintext')), wanted: '≥ 5×', met: chat / rate('grpc-js plaintext') >= 5 }
  )
  report.p1 = { messages, rounds, rows, samples: Object.fromEntries(samples) }
  md.push('## P1: one-way rate, 100-byte messages', '', `${messages} messages per run, ${rounds} round(s), medians.`, '',
    '| transport | msg/s | range | chat ÷ this |', '|---|---:|---:|---:|',
    ...rows.map(r => `| ${r.name} | ${k(r.rate)} | ${k(r.min)}–${k(r.max)} | ${x2(chat / r.rate)} |`), '', '![P1](p1-rate.svg)', '')
  await mkdir(OUT, { recursive: true })
  await writeFile(`${OUT}/p1-rate.svg`, await barChart('P1: 100-byte messages, one way (median msg/s)', 'messages per second', rows.map(r => ({ label: r.name, value: Math.round(r.rate), highlight: r.name === 'fabric chat' }))))
}

// ---- P2, P3 ----
{
  const count = quick ? 20 : 100
  const rounds = quick ? 1 : 3
  section(`P2 1 MiB messages (${count} per run) and P3 round trips, ${rounds} round(s)`)
  await bigMessages(10)
  await roundTrips(200)
  const p2: Record<string, number[]> = { 'fabric chat': [], 'raw libp2p stream': [] }
  const p3: Record<string, { median: number[], p99: number[] }> = { 'fabric chat': { median: [], p99: [] }, 'raw libp2p stream': { median: [], p99: [] } }

  for (let round = 1; round <= rounds; round++) {
    for (const r of await bigMessages(count)) p2[r.name].push(r.mbps)
    for (const r of await roundTrips(quick ? 300 : 1_000)) { p3[r.name].median.push(r.median); p3[r.name].p99.push(r.p99) }
    console.info(`  round ${round}: P2 chat ${Math.round(p2['fabric chat'].at(-1)!)} MB/s, raw ${Math.round(p2['raw libp2p stream'].at(-1)!)} MB/s; P3 chat ${p3['fabric chat'].median.at(-1)!.toFixed(3)} ms, raw ${p3['raw libp2p stream'].median.at(-1)!.toFixed(3)} ms`)
  }

  const mb = (n: string): number => median(p2[n])
  const lat = (n: string, q: 'median' | 'p99'): number => median(p3[n][q])
  targets.push(
    { id: 'P2', what: 'chat vs raw libp2p stream, 1 MiB', measured: x2(mb('fabric chat') / mb('raw libp2p stream')), wanted: '≥ 0.9×', met: mb('fabric chat') / mb('raw libp2p stream') >= 0.9 },
    { id: 'P3', what: 'round trip, median, chat vs raw', measured: x2(lat('fabric chat', 'median') / lat('raw libp2p stream', 'median')), wanted: '≤ 1.1×', met: lat('fabric chat', 'median') / lat('raw libp2p stream', 'median') <= 1.1 },
    { id: 'P3', what: 'round trip, p99, chat vs raw', measured: x2(lat('fabric chat', 'p99') / lat('raw libp2p stream', 'p99')), wanted: '≤ 1.1×', met: lat('fabric chat', 'p99') / lat('raw libp2p stream', 'p99') <= 1.1 }
  )
  report.p2 = p2
  report.p3 = p3
  md.push('## P2: 1 MiB messages, one way', '', '| transport | MB/s (median) |', '|---|---:|',
    ...Object.keys(p2).map(n => `| ${n} | ${Math.round(mb(n))} |`), '',
    '## P3: round trip of a 100-byte message', '', '| transport | median ms | p99 ms |', '|---|---:|---:|',
    ...Object.keys(p3).map(n => `| ${n} | ${lat(n, 'median').toFixed(3)} | ${lat(n, 'p99').toFixed(3)} |`), '')
}

// ---- P4 ----
{
  const count = quick ? 1_000 : 5_000
  section(`P4 broadcast from one validator to 15 peers, ${count} messages`)
  const single = (await chatRate(quick ? 20_000 : 100_000)).rate
  const fanout = await broadcastRate(15, count)
  console.info(`  ${k(fanout)} deliveries/s across 15 peers; one chat alone ${k(single)} msg/s`)
  targets.push({ id: 'P4', what: 'broadcast deliveries/s vs one chat', measured: x2(fanout / single), wanted: '≥ 0.8×', met: fanout / single >= 0.8 })
  report.p4 = { peers: 15, count, deliveriesPerSecond: fanout, singleChat: single }
  md.push('## P4: broadcast to 15 peers', '', `${k(fanout)} deliveries/s across 15 peers; a single chat in the same run: ${k(single)} msg/s.`, '')
}

// ---- P5 ----
{
  const sizes = quick ? [8] : [8, 16, 32, 64]
  section(`P5 convergence of N validators from one root node (discovery ${PERIODS.discoveryPeriod / 1000} s, touch ${PERIODS.touchPeriod / 1000} s): N = ${sizes.join(', ')}`)
  const rows: Array<{ validators: number, seconds: number, failedDials: number, cpuSeconds: number, chats: number, error?: string }> = []
  for (const n of sizes) {
    try {
      const r = await convergence(n, 120_000)
      rows.push(r)
      console.info(`  N=${n}: full mesh (${r.chats} chats) in ${r.seconds.toFixed(1)} s, ${r.failedDials} failed dials, ${r.cpuSeconds.toFixed(1)} CPU-s`)
    } catch (err: any) {
      // recorded as a miss, not a crash: the report says how far it got
      rows.push({ validators: n, seconds: NaN, failedDials: NaN, cpuSeconds: NaN, chats: n * (n - 1) / 2, error: err.message })
      console.info(`  N=${n}: no full mesh - ${err.message}`)
    }
  }
  const bound = (PERIODS.discoveryPeriod + PERIODS.touchPeriod) / 1000 + 3
  const n32 = rows.find(r => r.validators === 32)
  const n64 = rows.find(r => r.validators === 64)
  if (n32 != null) targets.push({ id: 'P5', what: 'N=32 to a full mesh', measured: `${n32.seconds.toFixed(1)} s`, wanted: `≤ ${bound} s`, met: n32.seconds <= bound })
  if (n64 != null) targets.push({ id: 'P5', what: 'N=64 to a full mesh, failed dials', measured: Number.isNaN(n64.seconds) ? 'no full mesh in 120 s' : `${n64.seconds.toFixed(1)} s, ${n64.failedDials}`, wanted: '0 failed', met: n64.failedDials === 0 })
  report.p5 = rows
  md.push('## P5: convergence from one root node', '', `Fabric's default periods (discovery ${PERIODS.discoveryPeriod / 1000} s, touch ${PERIODS.touchPeriod / 1000} s), all nodes in one process.`, '',
    '| validators | chats | seconds | failed dials | CPU-s |', '|---:|---:|---:|---:|---:|',
    ...rows.map(r => Number.isNaN(r.seconds) ? `| ${r.validators} | ${r.chats} | no full mesh in 120 s | | |` : `| ${r.validators} | ${r.chats} | ${r.seconds.toFixed(1)} | ${r.failedDials} | ${r.cpuSeconds.toFixed(1)} |`), '', '![P5](p5-convergence.svg)', '')
  const converged = rows.filter(r => !Number.isNaN(r.seconds))
  await writeFile(`${OUT}/p5-convergence.svg`, await lineChart('P5: time to a full mesh from one root node', 'validators', 'seconds', converged.map(r => ({ x: r.validators, y: Number(r.seconds.toFixed(2)) })), { label: `target ${bound} s`, points: rows.map(r => ({ x: r.validators, y: bound })) }))
}

// ---- P6 ----
{
  const n = quick ? 4 : 8
  section(`P6 a validator restarted on its datastore, root node down (${n} validators)`)
  const ms = await rejoin(n)
  const bound = PERIODS.touchPeriod / 1000 + 2
  console.info(`  back with every live validator in ${(ms / 1000).toFixed(2)} s`)
  targets.push({ id: 'P6', what: 'restarted validator back in the mesh', measured: `${(ms / 1000).toFixed(2)} s`, wanted: `≤ ${bound} s`, met: ms / 1000 <= bound })
  report.p6 = { validators: n, seconds: ms / 1000 }
  md.push('## P6: restart with the root node down', '', `${n} validators; the restarted one (same key, datastore and address) was back with every live validator in ${(ms / 1000).toFixed(2)} s.`, '')
}

// ---- P7 ----
{
  const [entries, established] = quick ? [2_000, 200] : [10_000, 1_000]
  section(`P7 one touch tick with ${k(entries)} discovery entries and ${k(established)} established chats`)
  const cost = await touchTickCost(entries, established)
  console.info(`  median ${cost.median.toFixed(2)} ms, max ${cost.max.toFixed(2)} ms`)
  targets.push({ id: 'P7', what: `touch tick, ${k(entries)} entries / ${k(established)} chats`, measured: `${cost.median.toFixed(2)} ms`, wanted: '≤ 5 ms', met: cost.median <= 5 })
  report.p7 = { entries, established, ...cost }
  md.push('## P7: touch tick cost', '', `${k(entries)} entries, ${k(established)} established: median ${cost.median.toFixed(2)} ms, max ${cost.max.toFixed(2)} ms (the first tick also queues its dials).`, '')
}

// ---- memory ----
{
  const chats = quick ? 10 : 50
  section(`Memory: RSS per established chat (${chats} chats)`)
  const mem = await memoryPerChat(chats)
  console.info(`  ${mem.perChatKiB.toFixed(0)} KiB per chat (both ends and the connection), ${(mem.perNodeKiB / 1024).toFixed(1)} MiB per idle node`)
  report.memory = mem
  md.push('## Memory', '', `${mem.perChatKiB.toFixed(0)} KiB of RSS per established chat (both ends and their connection: Noise, yamux, buffers), ${(mem.perNodeKiB / 1024).toFixed(1)} MiB per idle node, measured with ${chats} chats in one process.`, '')
}

// ---- report ----
const targetTable = ['| | target | measured | wanted | met |', '|---|---|---:|---:|:---:|', ...targets.map(t => `| ${t.id} | ${t.what} | ${t.measured} | ${t.wanted} | ${t.met ? 'yes' : '**no**'} |`)]
console.info(`\n${targetTable.join('\n')}\n`)
report.targets = targets
await writeFile(`${OUT}/latest.json`, JSON.stringify(report, null, 2) + '\n')
await writeFile(`${OUT}/latest.md`, [`# Benchmarks${quick ? ' (quick run)' : ''}`, '', `${report.date as string}, ${machine}. Command: \`npm run bench${quick ? ' -- --quick' : ''}\` (${elapsed()}).`, '', ...targetTable, '', ...md].join('\n'))
console.info(`written ${OUT}/latest.json, latest.md, p1-rate.svg, p5-convergence.svg in ${elapsed()}`)
process.exit(0)
