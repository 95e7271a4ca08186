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
const messages = values.quick ? 30_000 : 300_000
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`

console.info(`P1: one-way rate of 100-byte CONSENSUS messages, ${messages} per run (${machine})`)
const runs: RateResult[] = []

for (const [label, run] of [
  ['raw TCP socket', async () => rawTcpRate(messages)],
  ['raw libp2p stream', async () => rawLibp2pRate(messages)],
  ['fabric chat', async () => chatRate(messages)],
  ['grpc-js plaintext', async () => grpcRate(messages, false)],
  ['grpc-js TLS', async () => grpcRate(messages, true)]
] as const) {
  process.stdout.write(`  running ${label}...`)
  const r = await run()
  runs.push(r)
  process.stdout.write(` ${Math.round(r.rate).toLocaleString('en')} msg/s\n`)
}

const rate = (name: string): number => runs.find(r => r.name === name)?.rate ?? NaN
const chat = rate('fabric chat')
const targets = [
  { name: 'chat / raw libp2p stream', value: chat / rate('raw libp2p stream'), target: 0.9 },
  { name: 'chat / grpc-js plaintext', value: chat / rate('grpc-js plaintext'), target: 5 }
]

const table = [
  '| transport | msg/s | chat ÷ this |',
  '|---|---:|---:|',
  ...runs.map(r => `| ${r.name} | ${Math.round(r.rate).toLocaleString('en')} | ${(chat / r.rate).toFixed(2)}× |`),
  '',
  '| target | measured | wanted | met |',
  '|---|---:|---:|:---:|',
  ...targets.map(t => `| ${t.name} | ${t.value.toFixed(2)}× | ≥ ${t.target}× | ${t.value >= t.target ? 'yes' : 'no'} |`)
].join('\n')

console.info(`\n${table}\n`)
await mkdir('test/bench/results', { recursive: true })
const report = { date: new Date().toISOString(), machine, quick: values.quick, p1: { messages, runs, targets } }
await writeFile('test/bench/results/latest.json', JSON.stringify(report, null, 2) + '\n')
await writeFile('test/bench/results/latest.md', `# Benchmarks\n\n${report.date}, ${machine}${values.quick ? ' (quick run)' : ''}\n\n## P1: one-way rate, 100-byte messages\n\n${table}\n`)
console.info('written test/bench/results/latest.json and latest.md')
