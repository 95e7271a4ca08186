/**
 * npm run bench [-- --quick]: the benchmarks, each against baselines measured
 * in the same run, printed as a table of ratios and written to
 * test/bench/results/latest.{json,md}. (Issue #6 adds P2-P7 and charts.)
 */

import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { chatRate, grpcRate, rawLibp2pRate, rawTcpRate } from './p1-rate.js'
import type { RateResult } from './p1-rate.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const messages = values.quick ? 20_000 : 100_000
// one machine, 2 cores: single runs vary by 2x, so transports take turns over rounds and medians are compared
const rounds = values.quick ? 1 : 5
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`

const transports: Array<[string, (n: number) => Promise<RateResult>]> = [
  ['raw TCP socket', rawTcpRate],
  ['raw libp2p stream', rawLibp2pRate],
  ['fabric chat', chatRate],
  ['grpc-js plaintext', async n => grpcRate(n, false)],
  ['grpc-js TLS', async n => grpcRate(n, true)]
]

console.info(`P1: one-way rate of 100-byte CONSENSUS messages, ${messages} per run, ${rounds} round(s), medians (${machine})`)
const samples = new Map<string, number[]>(transports.map(([name]) => [name, []]))

// warm-up: the first run of each transport pays for JIT and module loading
for (const [, run] of transports) await run(Math.min(messages, 10_000))

for (let round = 1; round <= rounds; round++) {
  process.stdout.write(`  round ${round}/${rounds}:`)
  for (const [name, run] of transports) {
    const r = await run(messages)
    samples.get(name)!.push(r.rate)
    process.stdout.write(` ${name} ${Math.round(r.rate / 1000)}k`)
  }
  process.stdout.write('\n')
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const runs = transports.map(([name]) => ({ name, rate: median(samples.get(name)!), min: Math.min(...samples.get(name)!), max: Math.max(...samples.get(name)!) }))
const rate = (name: string): number => runs.find(r => r.name === name)?.rate ?? NaN
const chat = rate('fabric chat')
const targets = [
  { name: 'chat / raw libp2p stream', value: chat / rate('raw libp2p stream'), target: 0.9 },
  { name: 'chat / grpc-js plaintext', value: chat / rate('grpc-js plaintext'), target: 5 }
]

const k = (x: number): string => Math.round(x).toLocaleString('en')
const table = [
  '| transport | msg/s (median) | range | chat ÷ this |',
  '|---|---:|---:|---:|',
  ...runs.map(r => `| ${r.name} | ${k(r.rate)} | ${k(r.min)}–${k(r.max)} | ${(chat / r.rate).toFixed(2)}× |`),
  '',
  '| target | measured | wanted | met |',
  '|---|---:|---:|:---:|',
  ...targets.map(t => `| ${t.name} | ${t.value.toFixed(2)}× | ≥ ${t.target}× | ${t.value >= t.target ? 'yes' : 'no'} |`)
].join('\n')

console.info(`\n${table}\n`)
await mkdir('test/bench/results', { recursive: true })
const report = { date: new Date().toISOString(), machine, quick: values.quick, p1: { messages, rounds, runs, targets, samples: Object.fromEntries(samples) } }
await writeFile('test/bench/results/latest.json', JSON.stringify(report, null, 2) + '\n')
await writeFile('test/bench/results/latest.md', `# Benchmarks\n\n${report.date}, ${machine}${values.quick ? ' (quick run)' : ''}\n\n## P1: one-way rate, 100-byte messages\n\n${table}\n`)
console.info('written test/bench/results/latest.json and latest.md')
