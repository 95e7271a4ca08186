/**
 * Composing fabricPeer() into your own libp2p node, next to other services.
 * Two such nodes on 127.0.0.1: one dials the other, they chat, and the fabric
 * service's events show what happened.
 *
 *   npm run example:compose
 *
 * In your own code import from 'libp2p-fabric-peer' instead of '../src/index.js'.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessage, fabricPeer, Message } from '../src/index.js'

async function createNode (validator: boolean) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      // your node's other services...
      identify: identify(),
      ping: ping(),
      // ...and the Fabric peer layer
      fabric: fabricPeer({ validator })
    }
  })
}

const alice = await createNode(true)
const bob = await createNode(false)

bob.services.fabric.addEventListener('peer:established', ({ detail }) => {
  console.info(`bob: chat established with ${detail.peerId} (${detail.endpoint.type}) at ${detail.endpoint.address}`)
})
alice.services.fabric.addEventListener('message', ({ detail }) => {
  console.info(`alice: ${detail.message.type} from ${detail.peerId}: "${new TextDecoder().decode(detail.message.payload)}"`)
})
// the service is also a libp2p PeerDiscovery: nodes it learns show up here
bob.addEventListener('peer:discovery', ({ detail }) => {
  console.info(`bob: libp2p discovered ${detail.id} through the fabric service`)
})

await bob.services.fabric.chatWithPeer(alice.getMultiaddrs())
console.info(`bob: ping to alice ${await bob.services.ping.ping(alice.peerId)} ms, over the same connection as the chat`)

const got = new Promise(resolve => { alice.services.fabric.addEventListener('message', resolve, { once: true }) })
bob.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode('hello from a composed node')), alice.peerId)
await got

console.info(`alice's peers: ${alice.services.fabric.getPeers().peers.map(p => `${p.ID?.name} (${p.type})`).join(', ')}`)
await bob.stop()
await alice.stop()
