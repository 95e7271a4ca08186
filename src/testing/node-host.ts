/**
 * One harness node: a libp2p node with the fabric service built from a
 * `ResolvedSpec` (its engine and plugins loaded from their modules), with what
 * the harness asks of it: status, transactions, ledger, dials, plugin
 * commands. Runs inside a worker process, or in the harness's own process.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { openDataDir } from '../identity.js'
import { DatastoreLedger, fabricPeer, noopsEngine, PeerEndpoint, responseText, Transaction } from '../index.js'
import { loadFactory } from './modules.js'
import type { Engine, FabricPeer } from '../index.js'
import type { EngineContext, EngineFactory, Plugin, PluginFactory } from './modules.js'
import type { LedgerSummary, NodeCommand, NodeEvent, NodeStatus, ResolvedSpec, TxResult } from './protocol.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** A whole network on one host: libp2p's per-host inbound limits are meant for the internet */
const LOCAL_INBOUND_LIMIT = 10_000

interface DialFailures {
  count: number
  /** By error name and message (numbers stripped), for reports */
  byError: Record<string, number>
}

export class NodeHost {
  readonly spec: ResolvedSpec
  readonly node: Libp2p<{ fabric: FabricPeer }>
  private readonly datastore: Datastore & { close?: () => Promise<void> }
  private readonly ledger: DatastoreLedger
  private readonly engine?: Engine
  private readonly dialFailures: DialFailures = { count: 0, byError: {} }
  private readonly plugins: Plugin[] = []
  private stopping?: Promise<void>

  private constructor (spec: ResolvedSpec, node: Libp2p<{ fabric: FabricPeer }>, datastore: Datastore, ledger: DatastoreLedger, engine?: Engine) {
    this.engine = engine
    this.spec = spec
    this.node = node
    this.datastore = datastore
    this.ledger = ledger
  }

  /** Build and start the node; `onEvent` hears its chat events */
  static async start (spec: ResolvedSpec, onEvent: (event: NodeEvent) => void): Promise<NodeHost> {
    const { datastore, privateKey } = spec.dataDir != null
      ? await openDataDir(spec.dataDir)
      : { datastore: new MemoryDatastore(), privateKey: undefined }
    try {
      return await NodeHost.build(spec, datastore, privateKey, onEvent)
    } catch (err) {
      await (datastore as { close?: () => Promise<void> }).close?.()
      throw err
    }
  }

  private static async build (spec: ResolvedSpec, datastore: Datastore, privateKey: PrivateKey | undefined, onEvent: (event: NodeEvent) => void): Promise<NodeHost> {
    const validator = spec.validator ?? true
    const logger = defaultLogger()
    const ledger = await new DatastoreLedger(datastore).open()
    const ctx: EngineContext = { name: spec.name, validator, ledger, datastore, dataDir: spec.dataDir, logger }
    const engine = await makeEngine(spec, ctx)
    const limits = spec.libp2p ?? {}

    const node = await createLibp2p({
      privateKey,
      datastore,
      addresses: { listen: [`/ip4/${spec.host ?? '127.0.0.1'}/tcp/${spec.port ?? 0}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        inboundConnectionThreshold: limits.inboundConnectionThreshold ?? LOCAL_INBOUND_LIMIT,
        maxIncomingPendingConnections: limits.maxIncomingPendingConnections ?? LOCAL_INBOUND_LIMIT,
        maxConnections: limits.maxConnections,
        maxParallelDials: limits.maxParallelDials,
        dialTimeout: limits.dialTimeout,
        inboundUpgradeTimeout: limits.inboundUpgradeTimeout
      },
      services: {
        fabric: fabricPeer({ ...spec.fabric, validator, rootNodes: spec.rootNodes, ledger, engine })
      }
    })

    const host = new NodeHost(spec, node, datastore, ledger, engine)
    host.watch(onEvent)
    try {
      for (const ref of spec.plugins ?? []) {
        const factory = await loadFactory<PluginFactory>(ref, `plugin of ${spec.name}`)
        host.plugins.push(await factory(ref.options, { ...ctx, node, engine }))
      }
    } catch (err) {
      await host.node.stop()
      throw err
    }
    return host
  }

  private watch (onEvent: (event: NodeEvent) => void): void {
    const fabric = this.node.services.fabric
    const name = this.spec.name
    fabric.addEventListener('peer:established', (evt) => { onEvent({ at: Date.now(), node: name, type: 'established', peer: evt.detail.peerId.toString() }) })
    fabric.addEventListener('peer:closed', (evt) => { onEvent({ at: Date.now(), node: name, type: 'closed', peer: evt.detail.peerId.toString(), detail: evt.detail.reason }) })
    fabric.addEventListener('peer:rejected', (evt) => { onEvent({ at: Date.now(), node: name, type: 'rejected', peer: evt.detail.peerId.toString(), detail: evt.detail.reason }) })
    fabric.addEventListener('peer:overflow', (evt) => { onEvent({ at: Date.now(), node: name, type: 'overflow', peer: evt.detail.peerId.toString(), detail: `${evt.detail.queued} queued` }) })

    // every dial goes through chatWithPeer (the touch loop's too): count the failures
    const chatWithPeer = fabric.chatWithPeer.bind(fabric)
    const failures = this.dialFailures
    fabric.chatWithPeer = async (target, options) => {
      try {
        return await chatWithPeer(target, options)
      } catch (err: any) {
        failures.count++
        const key = `${err?.name ?? 'Error'}: ${String(err?.message ?? err).replace(/\/p2p\/\w+|12D3\w+|\d+/g, '#').slice(0, 120)}`
        failures.byError[key] = (failures.byError[key] ?? 0) + 1
        throw err
      }
    }
  }

  status (): NodeStatus {
    const fabric = this.node.services.fabric
    const peers = fabric.getPeers().peers
    const info = this.ledger.getBlockchainInfo()
    const cpu = process.cpuUsage()
    return {
      name: this.spec.name,
      peerId: this.node.peerId.toString(),
      addresses: this.node.getMultiaddrs().map(String),
      validator: this.spec.validator ?? true,
      validators: peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).map(p => p.ID?.name ?? ''),
      nonValidators: peers.filter(p => p.type === PeerEndpoint.Type.NON_VALIDATOR).map(p => p.ID?.name ?? ''),
      discovery: fabric.discovery.size,
      height: info.height,
      head: hex8(info.currentBlockHash),
      failedDials: this.dialFailures.count,
      dialErrors: this.dialFailures.byError,
      cpuMicros: cpu.user + cpu.system,
      rss: process.memoryUsage().rss,
      lastCatchUp: (this.engine as { usage?: () => { lastCatchUp?: { blocks: number, ms: number } } } | undefined)?.usage?.().lastCatchUp
    }
  }

  /** Run a harness command for this node (from the worker's IPC, or inline) */
  async run (cmd: NodeCommand): Promise<unknown> {
    switch (cmd.cmd) {
      case 'submit': return this.submit(cmd.txid, cmd.payload)
      case 'dial': return this.dial(cmd.to)
      case 'ledger': return this.ledgerSummary()
      case 'call': return this.call(cmd.command, cmd.args)
    }
  }

  /** Submit a transaction here (a validator runs it, a non-validator forwards it) */
  async submit (txid: string, payload = `harness transaction ${txid}`): Promise<TxResult> {
    const started = performance.now()
    const tx: Transaction = {
      type: Transaction.Type.CHAINCODE_INVOKE,
      chaincodeID: new TextEncoder().encode('harness'),
      payload: new TextEncoder().encode(payload),
      metadata: new Uint8Array(0),
      txid,
      nonce: crypto.getRandomValues(new Uint8Array(8)),
      cert: new Uint8Array(0),
      signature: new Uint8Array(0)
    }
    const res = await this.node.services.fabric.processTransaction(tx)
    return { txid, status: res.status, message: responseText(res), ms: performance.now() - started }
  }

  /** The ledger: height, head and every transaction id in block order */
  async ledgerSummary (): Promise<LedgerSummary> {
    const info = this.ledger.getBlockchainInfo()
    const txids: string[] = []
    for (let n = 0; n < info.height; n++) {
      const block = await this.ledger.getBlock(n)
      for (const tx of block?.transactions ?? []) txids.push(tx.txid)
    }
    return { height: info.height, head: hex8(info.currentBlockHash), txids }
  }

  /** Dial these multiaddrs for a chat */
  async dial (to: string[]): Promise<void> {
    await this.node.services.fabric.chatWithPeer(to.map(a => multiaddr(a)))
  }

  /** A command of one of the node's plugins */
  async call (command: string, args: unknown): Promise<unknown> {
    const fn = this.plugins.find(p => p.commands?.[command] != null)?.commands?.[command]
    if (fn == null) throw new Error(`${this.spec.name} has no plugin command ${JSON.stringify(command)}`)
    return fn(args)
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled(this.plugins.map(async p => p.stop?.()))
      await this.node.stop()
      await this.datastore.close?.()
    })()
    return this.stopping
  }
}

async function makeEngine (spec: ResolvedSpec, ctx: EngineContext): Promise<Engine | undefined> {
  const kind = spec.engine ?? (ctx.validator ? 'noops' : 'none')
  if (kind === 'none') return undefined
  if (kind === 'noops') return noopsEngine({ ledger: ctx.ledger, logger: ctx.logger, settleTime: spec.settleTime })
  const factory = await loadFactory<EngineFactory>(kind, `engine of ${spec.name}`)
  return factory(kind.options, ctx)
}

function hex8 (hash: Uint8Array): string {
  return Buffer.from(hash).toString('hex').slice(0, 8)
}
