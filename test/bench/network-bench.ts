/**
 * P5-P7: the network as a whole, with Fabric's default periods (discovery 5 s,
 * touch 6 s). P5 and P6 run their nodes as child processes through the
 * harness (libp2p-fabric-peer/testing), on 127.0.0.1; P7 measures the touch loop alone.
 * - P5: N validators given one root node, until a full mesh: time, failed dials, CPU
 * - P6: a validator restarted on its datastore with the root node down, until it is back in the mesh
 * - P7: the cost of one touch tick with 10 000 discovery entries and 1 000 established chats
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Discovery } from '../../src/discovery/discovery.js'
import { DISCOVERY_PERIOD, PeerEndpoint, TOUCH_PERIOD } from '../../src/index.js'
import { TouchLoop } from '../../src/touch/touch-loop.js'
import { Harness } from '../../src/testing/index.js'
import type { PeerId, PeerStore } from '@libp2p/interface'

export interface Convergence {
  validators: number
  /** From the moment every node was listening */
  seconds: number
  /** From the first non-root node's start (nodes start over several seconds as processes) */
  sinceFirstStart: number
  failedDials: number
  dialErrors: Record<string, number>
  /** Of all node processes, from the last start to the full mesh */
  cpuSeconds: number
  chats: number
  processes: number
}

/**
 * P5: `n` validators as child processes (`perProcess` each), all but the root
 * knowing only the root, with Fabric's default periods; time to a full mesh.
 */
export async function convergence (n: number, options: { timeout?: number, perProcess?: number, progress?: (line: string) => void } = {}): Promise<Convergence> {
  const h = await Harness.create({ nodesPerProcess: options.perProcess ?? 1, progress: options.progress ?? false, defaults: { persistent: false, engine: 'none' } })
  try {
    await h.start([{ name: 'root', root: true }])
    const firstStart = Date.now()
    await h.start(Array.from({ length: n - 1 }, (_, i) => ({ name: `vp${i + 1}` })), { timeout: 120_000 })
    const allUp = Date.now()
    await h.refresh()
    const cpu0 = h.cpuMicros()
    const ms = await h.waitFor(h.fullMesh(), options.timeout ?? 120_000)
    await h.refresh()
    const statuses = h.statuses()
    return {
      validators: n,
      seconds: ms / 1000,
      sinceFirstStart: (allUp - firstStart + ms) / 1000,
      failedDials: statuses.reduce((sum, s) => sum + s.failedDials, 0),
      dialErrors: statuses.reduce<Record<string, number>>((all, s) => { for (const [k, v] of Object.entries(s.dialErrors)) all[k] = (all[k] ?? 0) + v; return all }, {}),
      cpuSeconds: (h.cpuMicros() - cpu0) / 1e6,
      chats: n * (n - 1) / 2,
      processes: new Set(h.all().map(x => x.pid)).size
    }
  } finally {
    await h.close()
  }
}

/**
 * P6: `n` validators as processes, meshed; one is killed (SIGKILL), then the
 * root node stops; the killed one restarts on its data directory and port:
 * seconds from its restart (listening again) back to a full mesh with every
 * live validator.
 */
export async function rejoin (n: number, timeout = 60_000): Promise<number> {
  const h = await Harness.create({ defaults: { engine: 'none' } })
  try {
    await h.start([{ name: 'root', root: true }, ...Array.from({ length: n - 1 }, (_, i) => ({ name: `vp${i + 1}` }))])
    await h.waitFor(h.fullMesh(), 120_000)
    const victim = `vp${n - 1}`
    await h.kill(victim)
    await h.stop('root')
    await h.restart(victim)
    const ms = await h.waitFor(h.fullMesh(), timeout)
    return ms / 1000
  } finally {
    await h.close()
  }
}

/** P7: milliseconds per touch tick (median of `ticks`) with `entries` in discovery and `established` chats */
export async function touchTickCost (entries = 10_000, established = 1_000, ticks = 50): Promise<{ median: number, max: number }> {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const peerStore = { merge: async () => {} } as unknown as PeerStore
  const log = defaultLogger().forComponent('bench')
  const discovery = new Discovery({ peerId: self, peerStore }, { maxEntries: entries, log })
  const ids: PeerId[] = []

  for (let i = 0; i < entries; i++) {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    ids.push(id)
    discovery.addNode(`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/7051/p2p/${id}`, PeerEndpoint.Type.VALIDATOR)
  }

  const chats = new Set(ids.slice(0, established).map(String))
  const loop = new TouchLoop({
    peerId: self,
    discovery,
    established: () => ids.slice(0, established).map(peerId => ({ peerId, type: PeerEndpoint.Type.VALIDATOR })),
    isEstablished: (peerId) => chats.has(peerId.toString()),
    // dials never complete: the loop's own work is what is measured
    dial: async () => new Promise(() => {})
  }, { touchPeriod: TOUCH_PERIOD, touchMaxNodes: 100, concurrency: 8, validator: true, minValidators: 2, expireAfter: 3_600_000, log })

  const times: number[] = []
  for (let i = 0; i < ticks; i++) {
    const t0 = performance.now()
    loop.tick()
    times.push(performance.now() - t0)
  }
  loop.stop()
  times.sort((a, b) => a - b)
  return { median: times[Math.floor(times.length / 2)], max: times[times.length - 1] }
}

export const PERIODS = { discoveryPeriod: DISCOVERY_PERIOD, touchPeriod: TOUCH_PERIOD }
