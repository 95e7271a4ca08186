/**
 * P5-P7: the network as a whole, with Fabric's default periods (discovery 5 s,
 * touch 6 s) unless said otherwise, all nodes in this process on 127.0.0.1.
 * - P5: N validators given one root node, until a full mesh: time, failed dials, CPU
 * - P6: a validator restarted on its datastore with the root node down, until it is back in the mesh
 * - P7: the cost of one touch tick with 10 000 discovery entries and 1 000 established chats
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { Discovery } from '../../src/discovery/discovery.js'
import { DISCOVERY_PERIOD, PeerEndpoint, TOUCH_PERIOD } from '../../src/index.js'
import { TouchLoop } from '../../src/touch/touch-loop.js'
import { createNode } from '../helpers/nodes.js'
import type { FabricNode } from '../helpers/nodes.js'
import type { PeerId, PeerStore, PrivateKey } from '@libp2p/interface'

export interface Convergence {
  validators: number
  seconds: number
  failedDials: number
  cpuSeconds: number
  chats: number
}

/** Count the dials a node's touch loop (or anyone) makes that fail */
function countFailures (node: FabricNode, counter: { failed: number }): void {
  const chatWithPeer = node.services.fabric.chatWithPeer.bind(node.services.fabric)
  node.services.fabric.chatWithPeer = async (peer, options) => {
    try {
      return await chatWithPeer(peer, options)
    } catch (err) {
      counter.failed++
      throw err
    }
  }
}

async function until (condition: () => boolean, timeout: number, progress?: () => string): Promise<number> {
  const start = performance.now()
  let last = start
  while (!condition()) {
    if (performance.now() - start > timeout) throw new Error(`not reached in ${timeout} ms: ${progress?.() ?? ''}`)
    if (progress != null && performance.now() - last > 5_000) {
      last = performance.now()
      process.stdout.write(`    ... ${((last - start) / 1000).toFixed(0)} s: ${progress()}\n`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return performance.now() - start
}

const meshed = (nodes: FabricNode[]): number => nodes.filter(n => n.services.fabric.getPeers().peers.length === nodes.length - 1).length

/** P5: `n` validators, all but the root knowing only the root; time from the last start to a full mesh */
export async function convergence (n: number, timeout = 120_000): Promise<Convergence> {
  const counter = { failed: 0 }
  const nodes: FabricNode[] = []

  try {
    const root = await createNode()
    nodes.push(root)
    countFailures(root, counter)
    const rootNodes = [root.getMultiaddrs()[0].toString()]
    const cpu = process.cpuUsage()
    const rest = await Promise.all(Array.from({ length: n - 1 }, async () => createNode({ fabric: { rootNodes } })))
    rest.forEach(node => { countFailures(node, counter) })
    nodes.push(...rest)

    const ms = await until(() => meshed(nodes) === n, timeout, () => `${meshed(nodes)}/${n} nodes meshed`)
    const used = process.cpuUsage(cpu)
    return { validators: n, seconds: ms / 1000, failedDials: counter.failed, cpuSeconds: (used.user + used.system) / 1e6, chats: n * (n - 1) / 2 }
  } finally {
    await Promise.all(nodes.map(async node => node.stop()))
  }
}

/** P6: `n` validators meshed; one stops, then the root; it restarts on its datastore: time back to the mesh */
export async function rejoin (n: number, timeout = 60_000): Promise<number> {
  const keys: PrivateKey[] = await Promise.all(Array.from({ length: n }, async () => generateKeyPair('Ed25519')))
  const stores = keys.map(() => new MemoryDatastore())
  const nodes: FabricNode[] = []

  try {
    nodes.push(await createNode({ privateKey: keys[0], datastore: stores[0] }))
    const rootNodes = [nodes[0].getMultiaddrs()[0].toString()]
    nodes.push(...await Promise.all(keys.slice(1).map(async (privateKey, i) => createNode({ privateKey, datastore: stores[i + 1], fabric: { rootNodes } }))))
    await until(() => meshed(nodes) === n, 120_000)

    const victim = nodes[n - 1]
    const listen = victim.getMultiaddrs().map(a => a.toString().split('/p2p/')[0])
    await victim.stop()
    await nodes[0].stop()
    const live = nodes.slice(1, n - 1)

    // the same identity, datastore and address: others still have it in their lists
    const back = await createNode({ privateKey: keys[n - 1], datastore: stores[n - 1], listen, fabric: { rootNodes } })
    nodes[n - 1] = back
    return await until(() => live.every(v => back.services.fabric.isEstablished(v.peerId)), timeout)
  } finally {
    await Promise.all(nodes.map(async node => node.status === 'started' ? node.stop() : undefined))
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
  }, { touchPeriod: TOUCH_PERIOD, touchMaxNodes: 100, concurrency: 8, validator: true, minValidators: 2, backoffInitial: 5_000, backoffMax: 300_000, expireAfter: 3_600_000, log })

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
