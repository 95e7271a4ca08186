/**
 * P1-P4 with each side in its own process (harness workers), as peers run on
 * real machines: sender and receiver each get a core instead of sharing one JS
 * thread. The chat and the raw libp2p stream (same framing, decoded the same
 * way, 64 frames per send) run between the same two processes, over the same
 * connection, taking turns; medians of the rounds are compared.
 * - P1: 100-byte messages one way, msg/s
 * - P2: 1 MiB messages one way, MB/s
 * - P3: round trips of a 100-byte message, median and p99
 * - P4: one validator broadcasting to 15 peers (all in a second process, so
 *   the same two cores do the work as for one chat), deliveries/s
 */

import { Harness, percentile } from '../../src/testing/index.js'
import { Traffic, trafficNode } from '../harness/index.js'

export interface PairRate { chat: number[], raw: number[] }
export interface ProcessResults {
  p1: PairRate
  p2: PairRate
  p3: { chat: number[], raw: number[] }
  p4: { single: number[], broadcast: number[], peers: number }
}

const bench = { ...trafficNode, persistent: false, fabric: { touchPeriod: 0, maxMessagesPerSecond: 1e9, sendQueueSize: 4_096 } }

export async function processBenchmarks (options: { quick: boolean, log: (line: string) => void }): Promise<ProcessResults> {
  const { quick, log } = options
  const rounds = quick ? 1 : 3
  const out: ProcessResults = { p1: { chat: [], raw: [] }, p2: { chat: [], raw: [] }, p3: { chat: [], raw: [] }, p4: { single: [], broadcast: [], peers: 15 } }

  // ---- P1-P3: two processes
  {
    const h = await Harness.create({ defaults: bench })
    const t = new Traffic(h)
    const sent = { chat: 0, raw: 0 }
    try {
      await h.start([{ name: 'sender' }, { name: 'receiver' }])
      await h.dial('sender', 'receiver')

      /** messages/s of `count` messages of `size` bytes, received and decoded at the other process */
      const rate = async (count: number, size: number, raw: boolean): Promise<number> => {
        const key = raw ? 'raw' : 'chat'
        sent[key] += count
        const arrived = t.expect('receiver', sent[key], raw)
        const t0 = performance.now()
        await t.blast('sender', 'receiver', count, size, raw)
        await arrived
        return count / ((performance.now() - t0) / 1000)
      }

      const small = quick ? 50_000 : 200_000
      await rate(10_000, 100, false)
      await rate(10_000, 100, true)
      for (let r = 0; r < rounds; r++) {
        out.p1.chat.push(await rate(small, 100, false))
        out.p1.raw.push(await rate(small, 100, true))
        log(`P1 round ${r + 1}: chat ${k(out.p1.chat[r])} msg/s, raw libp2p ${k(out.p1.raw[r])} msg/s`)
      }

      const big = quick ? 50 : 200
      const mib = 1024 * 1024
      await rate(20, mib, false)
      await rate(20, mib, true)
      for (let r = 0; r < rounds; r++) {
        out.p2.chat.push(await rate(big, mib, false) * mib / 1e6)
        out.p2.raw.push(await rate(big, mib, true) * mib / 1e6)
        log(`P2 round ${r + 1}: chat ${out.p2.chat[r].toFixed(0)} MB/s, raw libp2p ${out.p2.raw[r].toFixed(0)} MB/s`)
      }

      const trips = quick ? 500 : 3_000
      await t.rtt('sender', 'receiver', 200, 100, false)
      await t.rtt('sender', 'receiver', 200, 100, true)
      for (let r = 0; r < rounds; r++) {
        out.p3.chat.push(...await t.rtt('sender', 'receiver', trips, 100, false))
        out.p3.raw.push(...await t.rtt('sender', 'receiver', trips, 100, true))
      }
      log(`P3: chat median ${pct(out.p3.chat, 0.5).toFixed(3)} ms, raw libp2p ${pct(out.p3.raw, 0.5).toFixed(3)} ms`)
    } finally {
      await h.close()
    }
  }

  // ---- P4: one source process, 15 sinks in a second process
  {
    const peers = out.p4.peers
    const h = await Harness.create({ defaults: bench, nodesPerProcess: peers })
    const t = new Traffic(h)
    try {
      await h.start([{ name: 'source' }])
      const sinks = Array.from({ length: peers }, (_, i) => `sink${i}`)
      await h.start(sinks.map(name => ({ name })))
      for (const s of sinks) await h.dial(s, 'source')
      const totals = new Map(sinks.map(s => [s, 0]))
      const count = quick ? 10_000 : 40_000

      const single = async (): Promise<number> => {
        totals.set('sink0', totals.get('sink0')! + count)
        const arrived = t.expect('sink0', totals.get('sink0')!)
        const t0 = performance.now()
        await t.blast('source', 'sink0', count, 100)
        await arrived
        return count / ((performance.now() - t0) / 1000)
      }
      const broadcast = async (): Promise<number> => {
        const arrived = Promise.all(sinks.map(async s => { totals.set(s, totals.get(s)! + count); return t.expect(s, totals.get(s)!) }))
        const t0 = performance.now()
        await t.broadcast('source', count, 100)
        await arrived
        return count * peers / ((performance.now() - t0) / 1000)
      }

      await single()
      await broadcast()
      for (let r = 0; r < rounds; r++) {
        out.p4.single.push(await single())
        out.p4.broadcast.push(await broadcast())
        log(`P4 round ${r + 1}: broadcast ${k(out.p4.broadcast[r])} deliveries/s, one chat ${k(out.p4.single[r])} msg/s`)
      }
    } finally {
      await h.close()
    }
  }

  return out
}

function k (x: number): string { return Math.round(x).toLocaleString('en') }

export const pct = percentile

export function median (xs: number[]): number { return pct(xs, 0.5) }

/**
 * RSS per established chat at one end: a hub node in one process receives
 * `spokes` chats from nodes in other processes; the hub process's RSS before
 * and after, and at rest.
 */
export async function memoryPerChatEnd (spokes: number): Promise<{ perChatKiB: number, idleMiB: number }> {
  const h = await Harness.create({ nodesPerProcess: 20, defaults: { persistent: false, engine: 'none', fabric: { touchPeriod: 0 } } })
  try {
    await h.start([{ name: 'hub' }])
    await h.start(Array.from({ length: spokes }, (_, i) => ({ name: `s${i}` })))
    await new Promise(resolve => setTimeout(resolve, 1_000))
    const before = (await h.refresh()).find(s => s.name === 'hub')!.rss
    for (let i = 0; i < spokes; i++) await h.dial(`s${i}`, 'hub')
    await new Promise(resolve => setTimeout(resolve, 2_000))
    const after = (await h.refresh()).find(s => s.name === 'hub')!.rss
    return { perChatKiB: (after - before) / spokes / 1024, idleMiB: before / 2 ** 20 }
  } finally {
    await h.close()
  }
}
