/**
 * What a harness node is (`NodeSpec`), what it reports (`NodeStatus`,
 * `NodeEvent`), and what the harness and its worker processes say to each
 * other over IPC. Everything here is plain JSON: it crosses to another process.
 */

/** The fabric options a harness node may set (the JSON-friendly part of `FabricPeerInit`) */
export interface FabricOptions {
  discoveryPeriod?: number
  discoveryFanout?: number
  touchPeriod?: number
  touchMaxNodes?: number
  touchConcurrency?: number
  minValidators?: number
  persist?: boolean
  persistDelay?: number
  dialBackoffInitial?: number
  dialBackoffMax?: number
  dialTimeout?: number
  helloTimeout?: number
  maxMessagesPerSecond?: number
  sendQueueSize?: number
  sendQueueBytes?: number
  maxMessageSize?: number
  transactionTimeout?: number
}

/** libp2p limits a harness node may set */
export interface Libp2pLimits {
  maxConnections?: number
  inboundConnectionThreshold?: number
  maxIncomingPendingConnections?: number
  maxParallelDials?: number
  dialTimeout?: number
  /** Time allowed for the Noise handshake and muxer negotiation of an inbound connection, ms */
  inboundUpgradeTimeout?: number
}

/**
 * An ES module the node's worker loads, and the factory it calls from it: an
 * engine (`NodeSpec.engine`, see `EngineFactory`) or a plugin
 * (`NodeSpec.plugins`, see `PluginFactory`).
 */
export interface ModuleRef {
  /**
   * The module: an absolute path or a file URL, e.g.
   * `new URL('./my-engine.ts', import.meta.url)`. A `.ts` module loads when
   * the harness itself runs under tsx (its workers get the same loader).
   */
  module: string | URL
  /**
   * The export to call
   *
   * @default 'default'
   */
  export?: string
  /** The factory's first argument. JSON only: it is sent to the worker process */
  options?: unknown
}

/** One node as the harness starts it */
export interface NodeSpec {
  /** Unique within a harness; used in progress lines, logs and data directory names */
  name: string
  /** @default true */
  validator?: boolean
  /**
   * Root nodes: names of other harness nodes (started first, their address is
   * filled in) or multiaddrs.
   *
   * @default every node marked `root`, except itself
   */
  rootNodes?: string[]
  /** This node is a root node of the others (see rootNodes) */
  root?: boolean
  /**
   * Keep identity, peer store, discovery list and ledger in a LevelDB data
   * directory; false: memory only (and no restart).
   *
   * @default true
   */
  persistent?: boolean
  /**
   * The node's LevelDB data directory, an absolute path
   *
   * @default `<harness dir>/data/<name>`
   */
  dataDir?: string
  /**
   * IP address to listen on
   *
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * TCP port; a restarted node reuses the port it had
   *
   * @default 0
   */
  port?: number
  /**
   * The engine: 'noops' is the reference engine (`noopsEngine`, with the
   * node's ledger), 'none' runs without one, or your own from a module (see
   * `EngineFactory`).
   *
   * @default 'noops' for a validator, 'none' for a non-validator
   */
  engine?: 'noops' | 'none' | ModuleRef
  /** Modules run in the node's process once it has started, adding commands (see `PluginFactory`) */
  plugins?: ModuleRef[]
  fabric?: FabricOptions
  /**
   * The noops engine's settleTime (ms before a started validator sequences)
   *
   * @default 0
   */
  settleTime?: number
  libp2p?: Libp2pLimits
}

/** A node's spec as the worker receives it: root nodes resolved, data directory chosen, module URLs */
export interface ResolvedSpec extends NodeSpec {
  rootNodes: string[]
  /** Absolute data directory, when persistent */
  dataDir?: string
}

/** What a node reports, pushed by its worker every `statusInterval` ms and refreshed on chat events */
export interface NodeStatus {
  name: string
  peerId: string
  addresses: string[]
  validator: boolean
  /** PeerIds of established chats with validators */
  validators: string[]
  /** PeerIds of established chats with non-validators */
  nonValidators: string[]
  /** Nodes in its discovery list */
  discovery: number
  /** Its ledger's height */
  height: number
  /** The first 8 hex digits of its head block's hash ('' at height 0) */
  head: string
  /** Dials by this node's chatWithPeer (touch loop and others) that failed */
  failedDials: number
  /** Those failures by error (name: message, numbers and ids replaced by #) */
  dialErrors: Record<string, number>
  /** CPU time of the whole worker process so far, µs */
  cpuMicros: number
  /** Resident set size of the whole worker process, bytes */
  rss: number
  /** The reference engine's last catch-up that appended blocks (how many, how long in ms), if it has one */
  lastCatchUp?: { blocks: number, ms: number }
}

/** The answer to a transaction submitted through the harness */
export interface TxResult {
  txid: string
  /** The Response's status: 'SUCCESS' or 'FAILURE' */
  status: string
  /** The Response's message */
  message: string
  /** From submission to answer, measured in the node's process */
  ms: number
}

/** A node's ledger */
export interface LedgerSummary {
  height: number
  /** The first 8 hex digits of its head block's hash */
  head: string
  /** Every transaction id, in block order */
  txids: string[]
}

/** A timestamped event a node saw (wall clock ms, so events from processes line up) */
export interface NodeEvent {
  at: number
  node: string
  type: 'established' | 'closed' | 'rejected' | 'overflow' | 'error'
  /** The other peer's PeerId */
  peer?: string
  detail?: string
}

/** What one node is asked to do (NodeHost.run) */
export type NodeCommand =
  | { id: number, cmd: 'submit', node: string, txid: string, payload?: string }
  | { id: number, cmd: 'dial', node: string, to: string[] }
  | { id: number, cmd: 'ledger', node: string }
  | { id: number, cmd: 'call', node: string, command: string, args?: unknown }

export type Command =
  | NodeCommand
  | { id: number, cmd: 'status' }
  | { id: number, cmd: 'stop', node?: string }

export type Reply =
  | { kind: 'ready', statuses: NodeStatus[] }
  | { kind: 'status', statuses: NodeStatus[] }
  | { kind: 'event', event: NodeEvent }
  | { kind: 'result', id: number, ok: true, value?: unknown }
  | { kind: 'result', id: number, ok: false, error: string }
  | { kind: 'fatal', error: string }
