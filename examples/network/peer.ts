/**
 * One peer of the local network, run as its own process by
 * examples/local-network.ts: a libp2p node on 127.0.0.1 with an embedded
 * LevelDB data directory (identity, peer store, discovery list, ledger), the
 * fabric service and, for a validator, the reference noops engine.
 *
 * It reports its state to the parent over IPC a few times a second and takes
 * commands from it: submit a transaction, stop. SIGTERM stops it cleanly.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { openDataDir } from '../../src/identity.js'
import { DatastoreLedger, fabricPeer, noopsEngine, PeerEndpoint, responseText, Transaction } from '../../src/index.js'

export interface PeerConfig {
  name: string
  dataDir: string
  validator: boolean
  rootNodes: string[]
  discoveryPeriod: number
  touchPeriod: number
  /** 0 the first time; a restarted peer listens where it did before, as a deployed node would */
  port: number
}

export interface PeerStatus {
  kind: 'status'
  name: string
  peerId: string
  address: string
  validator: boolean
  /** PeerIds of established chats with validators / non-validators */
  validators: string[]
  nonValidators: string[]
  height: number
  head: string
  discovery: number
}

export type ParentCommand = { cmd: 'submit', txid: string } | { cmd: 'stop' }
export type PeerReply = PeerStatus | { kind: 'submitted', txid: string, ok: boolean, message: string, ms: number } | { kind: 'stopped' }

const config: PeerConfig = JSON.parse(process.argv[2])
const send = (msg: PeerReply): void => { process.send?.(msg) }

const { datastore, privateKey } = await openDataDir(config.dataDir)
const ledger = await new DatastoreLedger(datastore).open()
const node = await createLibp2p({
  privateKey,
  datastore,
  addresses: { listen: [`/ip4/127.0.0.1/tcp/${config.port}`] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: {
    // a whole network on one host: libp2p's per-host inbound limits are meant for the internet
    inboundConnectionThreshold: 1000,
    maxIncomingPendingConnections: 1000
  },
  services: {
    fabric: fabricPeer({
      validator: config.validator,
      rootNodes: config.rootNodes,
      discoveryPeriod: config.discoveryPeriod,
      touchPeriod: config.touchPeriod,
      dialBackoffInitial: config.touchPeriod,
      // a short window: a SIGKILL loses at most this much of the list's changes
      persistDelay: 250,
      ledger,
      // a restarted validator (it comes back on its old port) waits two touch periods before it
      // sequences: by then the others know it is back. A fresh network has nothing to wait for
      engine: config.validator ? noopsEngine({ ledger, logger: defaultLogger(), settleTime: config.port !== 0 ? 2 * config.touchPeriod : 0 }) : undefined
    })
  }
})

function status (): PeerStatus {
  const peers = node.services.fabric.getPeers().peers
  const info = ledger.getBlockchainInfo()
  return {
    kind: 'status',
    name: config.name,
    peerId: node.peerId.toString(),
    address: node.getMultiaddrs()[0]?.toString() ?? '',
    validator: config.validator,
    validators: peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).map(p => p.ID?.name ?? ''),
    nonValidators: peers.filter(p => p.type === PeerEndpoint.Type.NON_VALIDATOR).map(p => p.ID?.name ?? ''),
    height: info.height,
    head: Buffer.from(info.currentBlockHash).toString('hex').slice(0, 8),
    discovery: node.services.fabric.discovery.size
  }
}

const reporter = setInterval(() => { send(status()) }, 200)
send(status())

let stopping: Promise<void> | undefined
async function stop (): Promise<void> {
  stopping ??= (async () => {
    clearInterval(reporter)
    await node.stop()
    await datastore.close()
    send({ kind: 'stopped' })
  })()
  return stopping
}

process.on('SIGTERM', () => { void stop().then(() => process.exit(0)) })
process.on('disconnect', () => { void stop().then(() => process.exit(0)) })
process.on('message', (msg: ParentCommand) => {
  if (msg.cmd === 'stop') {
    void stop().then(() => process.exit(0))
  } else if (msg.cmd === 'submit') {
    const started = Date.now()
    const tx: Transaction = {
      type: Transaction.Type.CHAINCODE_INVOKE,
      chaincodeID: new TextEncoder().encode('example'),
      payload: new TextEncoder().encode(`transfer #${msg.txid}`),
      metadata: new Uint8Array(0),
      txid: msg.txid,
      nonce: crypto.getRandomValues(new Uint8Array(8)),
      cert: new Uint8Array(0),
      signature: new Uint8Array(0)
    }
    void node.services.fabric.processTransaction(tx).then(res => {
      send({ kind: 'submitted', txid: msg.txid, ok: res.status === 'SUCCESS', message: responseText(res), ms: Date.now() - started })
    })
  }
})
