import { afterEach } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import { fabricPeer } from '../../src/index.js'
import type { FabricPeer, FabricPeerInit } from '../../src/index.js'
import type { ConnectionGater, Libp2p, PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export type FabricNode = Libp2p<{ fabric: FabricPeer }>

export interface NodeOptions {
  fabric?: FabricPeerInit
  privateKey?: PrivateKey
  datastore?: Datastore
  /** Listen addresses (default: 127.0.0.1, port 0) */
  listen?: string[]
  connectionGater?: ConnectionGater
  /** Start the node (default true); false to add listeners before it starts */
  start?: boolean
  /** libp2p peer discovery modules (`@libp2p/bootstrap`, `@libp2p/mdns`, …) */
  peerDiscovery?: Libp2pOptions['peerDiscovery']
  /** Add libp2p's identify service (what tells the fabric service which peers speak the chat protocol) */
  identify?: boolean
}

/**
 * A real libp2p node on 127.0.0.1 (port 0) with the fabric service. Many nodes
 * on one host trip libp2p's per-host inbound limits, so they are lifted.
 */
export async function createNode (options: NodeOptions = {}): Promise<FabricNode> {
  return createLibp2p({
    start: options.start,
    privateKey: options.privateKey,
    datastore: options.datastore,
    addresses: { listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    connectionGater: options.connectionGater,
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 1000
    },
    peerDiscovery: options.peerDiscovery,
    services: {
      fabric: fabricPeer(options.fabric),
      ...(options.identify === true ? { identify: identify() } : {})
    }
  }) as Promise<FabricNode>
}

/** A plain libp2p node without the fabric service, to speak raw bytes at one */
export async function createRawNode (privateKey?: PrivateKey, withIdentify = false): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: (withIdentify ? { identify: identify() } : {}) as Record<string, never>
  })
}

/**
 * For a test file: `track(x)` registers a node (or anything with `stop()`) to
 * be stopped after the current test, `node(init)` starts a fabric node with
 * the touch loop off and tracks it.
 */
export function stoppedAfterEach (): { track: <T extends { stop(): unknown }>(n: T) => T, node: (fabric?: FabricPeerInit) => Promise<FabricNode> } {
  const running: Array<{ stop(): unknown }> = []
  afterEach(async () => { await Promise.all(running.splice(0).map(async n => { await n.stop() })) })
  const track = <T extends { stop(): unknown }>(n: T): T => { running.push(n); return n }
  return { track, node: async (fabric = {}) => track(await createNode({ fabric: { touchPeriod: 0, ...fabric } })) }
}

export async function stopAll (nodes: Array<Libp2p | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => n?.stop()))
}

/** Poll until `condition` holds, or fail with `what` after `timeout` ms */
export async function waitFor (condition: () => boolean | Promise<boolean>, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout

  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout}ms waiting for ${what}`)
    }

    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** The next event of `type` whose detail passes `filter`, or a failure after `timeout` ms */
export async function nextEvent<Events extends Record<string, any>, K extends keyof Events & string> (
  target: TypedEventTarget<Events>, type: K, filter: (detail: Events[K]['detail']) => boolean = () => true, timeout = 10_000
): Promise<Events[K]['detail']> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, listener)
      reject(new Error(`timed out after ${timeout}ms waiting for ${type}`))
    }, timeout)
    const listener = (evt: Events[K]): void => {
      if (filter(evt.detail)) {
        clearTimeout(timer)
        target.removeEventListener(type, listener)
        resolve(evt.detail)
      }
    }
    target.addEventListener(type, listener)
  })
}
