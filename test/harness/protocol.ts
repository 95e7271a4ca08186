/**
 * What the harness and its worker processes say to each other over IPC.
 * Everything here is plain JSON.
 */

/** The fabric options a harness node may set (the JSON-friendly part of FabricPeerInit) */
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

/** One node as the harness starts it */
export interface NodeSpec {
  /** Unique within a harness; used in progress lines, logs and data directory names */
  name: string
  /** Default true */
  validator?: boolean
  /**
   * Root nodes: names of other harness nodes (started first, their address is
   * filled in) or multiaddrs. Default: every node marked `root`, except itself.
   */
  rootNodes?: string[]
  /** This node is a root node of the others (see rootNodes) */
  root?: boolean
  /** Keep identity, peer store, discovery list and ledger in a LevelDB data directory (default true); false: memory only */
  persistent?: boolean
  /** IP address to listen on (default 127.0.0.1) */
  host?: string
  /** TCP port (default 0; a restarted node reuses the port it had) */
  port?: number
  /** 'noops' (default for validators): the reference engine with a ledger; 'count': count messages and nothing else; 'none' */
  engine?: 'noops' | 'count' | 'none'
  fabric?: FabricOptions
  /** The noops engine's settleTime (ms before a started validator sequences); default 0 */
  settleTime?: number
  libp2p?: Libp2pLimits
  /** Register the raw benchmark protocol (frames counted, nothing else) */
  rawBench?: boolean
}

/** A node's spec as the worker receives it: names resolved, data directory chosen */
export interface ResolvedSpec extends NodeSpec {
  rootNodes: string[]
  /** Absolute data directory, when persistent */
  dataDir?: string
}

export interface NodeStatus {
  name: string
  peerId: string
  addresses: string[]
  validator: boolean
  /** PeerIds of established chats with validators / non-validators */
  validators: string[]
  nonValidators: string[]
  discovery: number
  height: number
  head: string
  /** Dials by this node's chatWithPeer (touch loop and others) that failed */
  failedDials: number
  /** Those failures by error (name: message, numbers and ids replaced by #) */
  dialErrors: Record<string, number>
  /** Messages received by the 'count' engine, and their bytes */
  received: number
  receivedBytes: number
  /** Frames received on the raw benchmark protocol, and their bytes */
  rawReceived: number
  rawReceivedBytes: number
  /** Of the whole worker process */
  cpuMicros: number
  rss: number
}

export interface TxResult { txid: string, status: string, message: string, ms: number }

export interface LedgerSummary { height: number, head: string, txids: string[] }

/** A timestamped event a node saw (wall clock ms, so events from processes line up) */
export interface NodeEvent {
  at: number
  node: string
  type: 'established' | 'closed' | 'rejected' | 'overflow' | 'error'
  peer?: string
  detail?: string
}

/** What one node is asked to do (NodeHost.run) */
export type NodeCommand =
  | { id: number, cmd: 'submit', node: string, txid: string, payload?: string }
  | { id: number, cmd: 'blast', node: string, to: string, count: number, size: number, raw?: boolean }
  | { id: number, cmd: 'broadcast', node: string, count: number, size: number }
  | { id: number, cmd: 'expect', node: string, total: number, raw?: boolean, timeout?: number }
  | { id: number, cmd: 'rtt', node: string, to: string, count: number, size: number, raw?: boolean }
  | { id: number, cmd: 'dial', node: string, to: string[] }
  | { id: number, cmd: 'ledger', node: string }

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
