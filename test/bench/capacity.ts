/**
 * npm run capacity: the measurements the capacity model (docs/capacity.md)
 * rests on, through the harness, and the model for 100 validators and 1 000
 * non-validators worked out from them.
 * - memory: RSS of one node process per established chat (one end)
 * - gossip: CPU per DISC_PEERS entry in a meshed network with Fabric's periods
 * - touch loop: one tick with the discovery list and chats of a validator in
 *   that network
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { DISCOVERY_FANOUT, DISCOVERY_PERIOD, MIN_VALIDATORS, TOUCH_PERIOD } from '../../src/constants.js'
import { Discovery } from '../../src/discovery/discovery.js'
import { createMessage } from '../../src/message.js'
import { Message, PeerEndpoint, PeersMessage } from '../../src/pb/fabric.js'
import { Harness } from '../../src/testing/index.js'
import { touchTickCost } from './network-bench.js'
import { memoryPerChatEnd } from './process-bench.js'
import type { Libp2p } from '@libp2p/interface'

const VALIDATORS = 100
const NON_VALIDATORS = 1_000
const log = (line: string): void => { console.info(line) }

log(`capacity measurements (Node ${process.version}); the model: ${VALIDATORS} validators, ${NON_VALIDATORS} non-validators`)

// ---- memory per chat, one end: a hub process with K chats from spokes in other processes
const spokes = 60
const { perChatKiB, idleMiB } = await memoryPerChatEnd(spokes)
log(`  memory: ${perChatKiB.toFixed(0)} KiB of RSS per established chat at one end (connection, Noise, yamux, chat buffers), ${spokes} chats into one node process; the process at rest: ${idleMiB.toFixed(0)} MiB`)

// ---- gossip in a meshed network, default periods: CPU per DISC_PEERS entry handled
let usPerEntry: number
{
  const n = 24
  // every chat asked every period (Fabric's way), so the entries exchanged are known
  const h = await Harness.create({ nodesPerProcess: 6, defaults: { persistent: false, engine: 'none', fabric: { discoveryFanout: -1 } } })
  try {
    await h.start([{ name: 'root', root: true }])
    await h.start(Array.from({ length: n - 1 }, (_, i) => ({ name: `v${i}` })))
    await h.waitFor(h.fullMesh(), 120_000)
    await new Promise(resolve => setTimeout(resolve, DISCOVERY_PERIOD))
    const names = h.all().map(x => x.spec.name)
    await h.refresh()
    const cpu0 = h.cpuMicros()
    const window = 4 * DISCOVERY_PERIOD
    await new Promise(resolve => setTimeout(resolve, window))
    await h.refresh()
    const cpu = h.cpuMicros() - cpu0
    // every node asks each of its n-1 chats once per period and each answers with n-1 entries
    const entries = n * (n - 1) * (n - 1) * (window / DISCOVERY_PERIOD)
    usPerEntry = cpu / entries
    log(`  gossip: ${names.length} validators meshed, ${(window / 1000).toFixed(0)} s with nothing else to do: ${(cpu / 1e6).toFixed(2)} CPU-s in all for ~${entries.toLocaleString('en')} DISC_PEERS entries sent and received = ${usPerEntry.toFixed(1)} µs per entry (encoding, Noise, yamux, socket, decoding, checks, and the idle network's timers)`)
  } finally {
    await h.close()
  }
}

// ---- the handling alone: encode, decode and discovery update of a 23-entry DISC_PEERS, no transport
{
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const discovery = new Discovery({ peerId: self, peerStore: { merge: async () => {} } as any }, { maxEntries: 10_000, log: defaultLogger().forComponent('capacity') })
  const peers: PeerEndpoint[] = []
  for (let i = 0; i < 23; i++) {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key)
    peers.push({ ID: { name: id.toString() }, address: `/ip4/127.0.0.1/tcp/${40_000 + i}/p2p/${id}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: Uint8Array.from(key.publicKey.raw) })
    discovery.addEndpoint(peers[i])
  }
  const rounds = 20_000
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) {
    const bytes = Message.encode(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({ peers })))
    for (const e of PeersMessage.decode(Message.decode(bytes).payload).peers) discovery.addEndpoint(e)
  }
  log(`  gossip handling alone: ${((performance.now() - t0) * 1000 / rounds / peers.length).toFixed(1)} µs per entry to encode, decode and check a ${peers.length}-entry DISC_PEERS (the rest of the figure above is transport)`)
}

// ---- one connection, both ends in this process: dial (TCP, Noise, yamux) and close, warm
{
  const make = async (): Promise<Libp2p> => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1e6, maxIncomingPendingConnections: 1e6 }
  })
  const [a, b] = await Promise.all([make(), make()])
  try {
    const dials = 300
    for (let i = 0; i < 30; i++) await (await a.dial(b.getMultiaddrs())).close()
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < dials; i++) await (await a.dial(b.getMultiaddrs())).close()
    const cpu = process.cpuUsage(cpu0)
    log(`  a connection: ${((cpu.user + cpu.system) / 1000 / dials).toFixed(1)} ms of CPU for both ends (${dials} dials and closes in one process)`)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

// ---- the touch loop of a validator in the modelled network
const chatsPerValidator = VALIDATORS - 1 + Math.ceil(NON_VALIDATORS * MIN_VALIDATORS / VALIDATORS)
const tick = await touchTickCost(VALIDATORS + NON_VALIDATORS, chatsPerValidator)
log(`  touch loop: one tick with ${VALIDATORS + NON_VALIDATORS} discovery entries and ${chatsPerValidator} chats: median ${tick.median.toFixed(2)} ms`)

// ---- the model
const vpChats = VALIDATORS - 1
const nvpChatsPerVp = NON_VALIDATORS * MIN_VALIDATORS / VALIDATORS
const entriesPerPeriod = vpChats * (chatsPerValidator) + nvpChatsPerVp * MIN_VALIDATORS
log('')
log(`model, ${VALIDATORS} validators + ${NON_VALIDATORS} non-validators (minValidators ${MIN_VALIDATORS}, discovery ${DISCOVERY_PERIOD / 1000} s, touch ${TOUCH_PERIOD / 1000} s):`)
log(`  chats: a validator ${vpChats} with validators + ~${nvpChatsPerVp} with non-validators = ~${chatsPerValidator}; a non-validator ${MIN_VALIDATORS}; ${(VALIDATORS * vpChats / 2 + NON_VALIDATORS * MIN_VALIDATORS).toLocaleString('en')} in all`)
log(`  memory for chats: a validator ~${(chatsPerValidator * perChatKiB / 1024).toFixed(0)} MiB, a non-validator ~${(MIN_VALIDATORS * perChatKiB / 1024).toFixed(1)} MiB (on top of ~${idleMiB.toFixed(0)} MiB per node process)`)
const core = (entries: number): string => `${(entries * usPerEntry / 1e6 / (DISCOVERY_PERIOD / 1000) * 100).toFixed(1)} % of a core`
const fanoutEntries = DISCOVERY_FANOUT * chatsPerValidator
log(`  gossip at a validator, Fabric's way (every chat asked every period): ~${entriesPerPeriod.toLocaleString('en')} entries received (and about as many sent) per period -> ~${core(entriesPerPeriod)}, both directions and the transport included`)
log(`  gossip at a validator with discoveryFanout ${DISCOVERY_FANOUT} (the default): ~${fanoutEntries.toLocaleString('en')} entries per period -> ~${core(fanoutEntries)}`)
log(`  touch loop: ${tick.median.toFixed(2)} ms per ${TOUCH_PERIOD / 1000} s tick = ${(tick.median / TOUCH_PERIOD * 100).toFixed(3)} % of a core`)
process.exit(0)
