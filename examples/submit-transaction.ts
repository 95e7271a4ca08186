/**
 * Submitting a transaction from a client: a libp2p node sends one Transaction
 * over /fabric/transaction/1.0.0 to a peer and prints the Response.
 *
 *   npm run example:submit -- <multiaddr of a peer>   # e.g. a peer of `npm start -- --keep`
 *   npm run example:submit                            # starts a validator here to submit to
 *
 * A validator gives the transaction to its engine; a non-validator forwards it
 * to one of its validators.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { DatastoreLedger, fabricPeer, noopsEngine, peerIdOf, responseText, Transaction } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

async function node (options: Parameters<typeof fabricPeer>[0]): Promise<Libp2p<{ fabric: ReturnType<ReturnType<typeof fabricPeer>> }>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { fabric: fabricPeer(options) }
  })
}

let target = process.argv[2]
let local: Libp2p | undefined

if (target == null) {
  const ledger = await new DatastoreLedger(new MemoryDatastore()).open()
  local = await node({ engine: noopsEngine({ ledger, logger: defaultLogger() }), ledger })
  target = local.getMultiaddrs()[0].toString()
  console.info(`no peer given: started a validator at ${target}`)
}

// the client: a non-validator that chats with nobody, it only submits
const client = await node({ validator: false, touchPeriod: 0 })
const addr = multiaddr(target)
const peerId = peerIdOf(addr)
if (peerId == null) throw new Error(`${target} does not end in /p2p/<PeerId>`)
await client.dial(addr)

const tx: Transaction = {
  type: Transaction.Type.CHAINCODE_INVOKE,
  chaincodeID: new TextEncoder().encode('example'),
  payload: new TextEncoder().encode('move 10 from a to b'),
  metadata: new Uint8Array(0),
  txid: `tx-${Date.now()}`,
  timestamp: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
  nonce: crypto.getRandomValues(new Uint8Array(8)),
  cert: new Uint8Array(0),
  signature: new Uint8Array(0)
}

const started = performance.now()
const res = await client.services.fabric.sendTransactionToPeer(peerId, tx)
console.info(`${tx.txid} -> ${res.status}: ${responseText(res)} (${(performance.now() - started).toFixed(0)} ms)`)

await client.stop()
await local?.stop()
process.exit(res.status === 'SUCCESS' ? 0 : 1)
