/**
 * Two Fabric peers on 127.0.0.1, each with its own embedded LevelDB data
 * directory (so each keeps its PeerId across runs). They open a Chat, exchange
 * hellos and peer lists, send a few messages each way, and one leaves.
 *
 *   npm start                 # runs this file
 *   DEBUG=libp2p:fabric* npm start   # with the library's logs
 *
 * In your own code import from 'libp2p-fabric-peer' instead of '../src/...'.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { openDataDir } from '../src/identity.js'
import { createMessage, fabricPeer, Message, PeerEndpoint, PeersMessage } from '../src/index.js'
import type { DataDir } from '../src/identity.js'

const DATA = 'data/two-peers'
const started = performance.now()
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(2)}s`.padStart(6)
const say = (line: string): void => { console.info(`${elapsed()}  ${line}`) }
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

async function startPeer (name: string, validator: boolean): Promise<{ name: string, dir: DataDir, node: Awaited<ReturnType<typeof createPeerNode>> }> {
  const dir = await openDataDir(`${DATA}/${name}`)
  return { name, dir, node: await createPeerNode(dir, validator) }
}

async function createPeerNode ({ datastore, privateKey }: DataDir, validator: boolean) {
  return createLibp2p({
    privateKey,
    datastore,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      fabric: fabricPeer({ validator, discoveryPeriod: 300 })
    }
  })
}

console.info(`libp2p-fabric-peer: two peers on 127.0.0.1 (Node ${process.version})\n`)

const peer0 = await startPeer('peer0', true)
const peer1 = await startPeer('peer1', false)
const names = new Map([[peer0.node.peerId.toString(), 'peer0'], [peer1.node.peerId.toString(), 'peer1']])

console.info('  peer   role           PeerId                                                data directory')
for (const p of [peer0, peer1]) {
  const role = p.node.services.fabric.validator ? 'validator' : 'non-validator'
  console.info(`  ${p.name}  ${role.padEnd(13)}  ${p.node.peerId.toString().padEnd(52)}  ${DATA}/${p.name}`)
}
console.info('')

for (const p of [peer0, peer1]) {
  p.node.services.fabric.addEventListener('peer:established', (evt) => {
    say(`${p.name}: chat established with ${names.get(evt.detail.peerId.toString())} (${evt.detail.endpoint.type}, ${evt.detail.initiated ? 'we dialed' : 'it dialed'}, its ledger height ${evt.detail.blockchainInfo?.height ?? 0})`)
  })
  p.node.services.fabric.addEventListener('message', ({ detail: { peerId, message } }) => {
    const from = names.get(peerId.toString())
    if (message.type === Message.Type.DISC_PEERS) {
      const listed = PeersMessage.decode(message.payload).peers.map(e => names.get(e.ID?.name ?? '') ?? e.ID?.name)
      say(`${p.name}: ${from} answered DISC_GET_PEERS with DISC_PEERS [${listed.join(', ')}]`)
    } else if (message.type === Message.Type.CONSENSUS) {
      say(`${p.name}: ${message.type} from ${from}: "${text(message.payload)}"`)
    }
  })
  p.node.services.fabric.addEventListener('peer:closed', (evt) => {
    say(`${p.name}: chat with ${names.get(evt.detail.peerId.toString())} closed (${evt.detail.reason})`)
  })
}

say(`peer1 dials peer0 at ${peer0.node.getMultiaddrs()[0].toString()}`)
const endpoint = await peer1.node.services.fabric.chatWithPeer(peer0.node.getMultiaddrs())
say(`peer1: peer0's endpoint is ${endpoint.type} at ${endpoint.address}`)

// peer exchange runs every discoveryPeriod (300 ms here, 5 s by default)
await new Promise(resolve => setTimeout(resolve, 400))

let delivered = 0
const allDelivered = new Promise<void>(resolve => {
  for (const p of [peer0, peer1]) {
    p.node.services.fabric.addEventListener('message', (evt) => {
      if (evt.detail.message.type === Message.Type.CONSENSUS && ++delivered === 6) resolve()
    })
  }
})
for (let i = 1; i <= 3; i++) {
  peer0.node.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode(`block proposal #${i} from peer0`)), peer1.node.peerId)
  peer1.node.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode(`vote #${i} from peer1`)), PeerEndpoint.Type.VALIDATOR)
}
await Promise.race([allDelivered, new Promise((resolve, reject) => setTimeout(() => { reject(new Error(`only ${delivered}/6 messages arrived in 5 s`)) }, 5000))])

say('peer1 stops')
await peer1.node.stop()
await peer1.dir.datastore.close()
await peer0.node.stop()
await peer0.dir.datastore.close()

console.info(`\nDone: ${delivered} messages delivered, both peers stopped cleanly in ${elapsed().trim()}.`)
console.info(`Run it again: the PeerIds above come back from ${DATA}/ (delete it for new ones).`)
