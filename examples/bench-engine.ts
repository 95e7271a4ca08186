/**
 * Benchmarking an engine of your own with the multi-node harness
 * (`libp2p-fabric-peer/testing`): 6 validators running the engine from
 * examples/engines/quorum-engine.ts and 2 non-validators, each peer its own
 * process; transactions submitted at the non-validators, several in flight;
 * latency, throughput, and how long a validator killed with SIGKILL takes to
 * come back.
 *
 *   npm run example:bench-engine
 *   npm run example:bench-engine -- --transactions 2000 --in-flight 16
 */

import { parseArgs } from 'node:util'
import { Harness, percentile } from '../src/testing/index.js'
import type { NodeSpec } from '../src/testing/index.js'

const { values } = parseArgs({ options: { transactions: { type: 'string', default: '500' }, 'in-flight': { type: 'string', default: '8' } } })
const K = Number(values.transactions)
const IN_FLIGHT = Number(values['in-flight'])

// your engine: a module the worker processes import, and the options its factory gets (JSON)
const engine = { module: new URL('./engines/quorum-engine.ts', import.meta.url), options: { timeout: 5_000 } }
const peers: NodeSpec[] = [
  { name: 'vp0', root: true, engine },
  ...[1, 2, 3, 4, 5].map(i => ({ name: `vp${i}`, engine })),
  { name: 'nvp0', validator: false },
  { name: 'nvp1', validator: false }
]
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

const h = await Harness.create({ progress: true, defaults: { fabric: { discoveryPeriod: 500, touchPeriod: 750, dialBackoffInitial: 750 } } })
try {
  const t0 = performance.now()
  await h.start(peers)
  await h.waitFor(h.topology(), 30_000)
  h.progress(`8 peers in their topology after ${seconds(performance.now() - t0)}`)

  /** `count` transactions at the non-validators (they forward to a validator), IN_FLIGHT at a time */
  async function submit (count: number, prefix: string): Promise<{ ms: number[], failed: number, took: number }> {
    const ms: number[] = []
    let failed = 0
    let next = 0
    const started = performance.now()
    await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, lane) => {
      while (next < count) {
        const res = await h.submit(`nvp${lane % 2}`, `${prefix}-${next++}`)
        if (res.status === 'SUCCESS') ms.push(res.ms)
        else failed++
      }
    }))
    return { ms, failed, took: performance.now() - started }
  }

  await submit(50, 'warm-up')
  h.progress(`submitting ${K} transactions, ${IN_FLIGHT} in flight`)
  const run = await submit(K, 'tx')

  const victim = 'vp5'
  await h.kill(victim)
  const killed = performance.now()
  await h.restart(victim)
  const listening = performance.now() - killed
  const back = await h.waitFor(h.topology(), 30_000)

  console.info(`
  engine              ${engine.module.pathname.split('/').slice(-2).join('/')} on 6 validators + 2 non-validators, one process each
  transactions        ${K} at nvp0 and nvp1, ${IN_FLIGHT} in flight: ${run.ms.length} SUCCESS, ${run.failed} FAILURE
  latency median      ${percentile(run.ms, 0.5).toFixed(1)} ms
  latency p99         ${percentile(run.ms, 0.99).toFixed(1)} ms
  throughput          ${Math.round(run.ms.length / (run.took / 1000))} tx/s
  kill -9 + restart   ${victim} listening again ${seconds(listening)} after SIGKILL, back in the topology ${seconds(back)} later`)
} finally {
  await h.close()
}
