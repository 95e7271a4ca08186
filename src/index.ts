/**
 * @packageDocumentation
 *
 * The peer networking layer of Hyperledger Fabric v0.6 (`core/peer`) as a
 * js-libp2p service: one long-lived, bidirectional Chat stream per peer
 * (`/fabric/chat/1.0.0`) carrying Fabric `Message`s, opened with a signed-off
 * hello exchange, with validators and non-validators, periodic peer exchange
 * (DISC_GET_PEERS / DISC_PEERS) and a pluggable engine for consensus and sync.
 *
 * @example
 *
 * ```ts
 * import { noise } from '@chainsafe/libp2p-noise'
 * import { yamux } from '@chainsafe/libp2p-yamux'
 * import { tcp } from '@libp2p/tcp'
 * import { createLibp2p } from 'libp2p'
 * import { fabricPeer, createMessage, Message, PeerEndpoint } from 'libp2p-fabric-peer'
 *
 * const node = await createLibp2p({
 *   addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
 *   transports: [tcp()],
 *   connectionEncrypters: [noise()],
 *   streamMuxers: [yamux()],
 *   services: {
 *     fabric: fabricPeer({ validator: true })
 *   }
 * })
 *
 * node.services.fabric.addEventListener('message', (evt) => {
 *   console.info('%s from %p', evt.detail.message.type, evt.detail.peerId)
 * })
 *
 * await node.services.fabric.chatWithPeer('/ip4/127.0.0.1/tcp/7051/p2p/12D3Koo...')
 * node.services.fabric.broadcast(createMessage(Message.Type.CONSENSUS, payload), PeerEndpoint.Type.VALIDATOR)
 * ```
 */

import { FabricPeer as FabricPeerClass } from './fabric-peer.js'
import type { ChatTarget } from './addresses.js'
import type { ChatSender } from './chat/chat-stream.js'
import type { Discovery } from './discovery/discovery.js'
import type { SecurityInit } from './security/membership.js'
import type { TouchTick } from './touch/touch-loop.js'
import type { Ledger } from './ledger.js'
import type { RemoteLedger } from './sync/remote-ledger.js'
import type { BlockchainInfo, Message, PeerEndpoint, PeersMessage, Response, Transaction } from './pb/fabric.js'
import type { AbortOptions, ComponentLogger, Libp2pEvents, Metrics, PeerId, PeerStore, PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { AddressManager, ConnectionManager, Registrar, TransportManager } from '@libp2p/interface-internal'

export interface FabricPeerInit {
  /**
   * Whether this peer is a validator (`peer.validator.enabled`). Sent in every
   * hello as the endpoint's type.
   *
   * @default true
   */
  validator?: boolean

  /**
   * The multiaddr advertised in our `PeerEndpoint` (Fabric's `peer.address`),
   * ending in `/p2p/<our PeerId>`.
   *
   * @default the node's first listen or announce address
   */
  address?: string

  /**
   * The consensus/sync engine. Its handler factory is asked for a handler for
   * every established chat, and receives every message the peer layer does not
   * handle itself (everything but DISC_HELLO, DISC_DISCONNECT, DISC_GET_PEERS, DISC_PEERS).
   */
  engine?: Engine

  /**
   * A handler factory, for an application without a full engine
   * (Fabric's `NewPeerWithHandler`). Give `engine` or this, not both.
   */
  handlerFactory?: HandlerFactory

  /**
   * Supplies the `BlockchainInfo` sent in our hello.
   *
   * @default an empty in-memory ledger
   */
  ledger?: Ledger

  /**
   * How often chats are asked for their peers with DISC_GET_PEERS, in ms
   * (`peer.discovery.period`).
   *
   * @default 5000
   */
  discoveryPeriod?: number

  /**
   * How many established chats, picked at random, are asked for their peers
   * each discovery period (besides the first few new chats, asked at once);
   * -1 asks every chat, as Fabric v0.6 does. Asking all costs each node O(N)
   * answers of O(N) entries per period: at 64 validators on one 2-core machine
   * that alone needed more CPU than there was. Every DISC_GET_PEERS we
   * receive is still answered.
   *
   * @default 8
   */
  discoveryFanout?: number

  /**
   * Root nodes (`peer.discovery.rootnode`): multiaddrs ending in `/p2p/<PeerId>`,
   * as an array or Fabric's comma-separated string. They seed discovery, are
   * chatted with at start and never expire. Our own address is skipped.
   *
   * @default []
   */
  rootNodes?: string[] | string

  /**
   * Keep the discovery list in the node's datastore (`peer.discovery.persist`),
   * under one key, written shortly after every change and at stop.
   *
   * @default true
   */
  persist?: boolean

  /**
   * How long after a change the list is written, in ms; changes in between share the write.
   *
   * @default 1000
   */
  persistDelay?: number

  /**
   * How often the touch loop dials missing nodes, in ms (`peer.discovery.touchPeriod`).
   * 0 disables it: the known nodes are chatted with once at start, never redialed.
   *
   * @default 6000
   */
  touchPeriod?: number

  /**
   * Most dials one touch tick starts (`peer.discovery.touchMaxNodes`); -1 is unlimited.
   *
   * @default 100
   */
  touchMaxNodes?: number

  /**
   * Touch-loop dials in flight at once.
   *
   * @default 8
   */
  touchConcurrency?: number

  /**
   * A non-validator keeps chats with at least this many validators (and never with other non-validators).
   *
   * @default 2
   */
  minValidators?: number

  /**
   * Most nodes the discovery list holds, whatever peers send.
   *
   * @default 10000
   */
  maxDiscoveryEntries?: number

  /**
   * Most endpoints accepted in one DISC_PEERS (more rejects the peer), and most sent.
   *
   * @default 2000
   */
  maxPeersPerMessage?: number

  /**
   * First wait before redialing a node that failed, in ms; it doubles per failure (with jitter).
   *
   * @default 5000
   */
  dialBackoffInitial?: number

  /**
   * Longest wait between dials to a failing node, in ms.
   *
   * @default 300000
   */
  dialBackoffMax?: number

  /**
   * A node that is not a root node and that we have neither chatted with nor
   * heard of from a peer for this long is dropped from discovery, in ms.
   *
   * @default 3600000
   */
  expireAfter?: number

  /**
   * Largest frame accepted or sent, in bytes. A bigger incoming frame aborts the stream.
   *
   * @default 4194304 (4 MiB, gRPC's default)
   */
  maxMessageSize?: number

  /**
   * Frames that may wait in one peer's send queue (`peer.validator.consensus.buffersize`).
   * Sending beyond it throws `SendQueueFullError` for that peer only.
   *
   * @default 1000
   */
  sendQueueSize?: number

  /**
   * A peer with frames waiting and nothing written to it for this long, in ms,
   * has stopped reading: it is reported (`peer:overflow`) and disconnected.
   * A full queue on a peer that still reads is only backpressure.
   *
   * @default 10000
   */
  sendStallTimeout?: number

  /**
   * Bytes that may wait in one peer's send queue; a single frame always fits.
   *
   * @default 67108864 (64 MiB)
   */
  sendQueueBytes?: number

  /**
   * Messages per second one peer may make us handle (chat messages and
   * transactions); beyond it, its chat is not read until the second is over
   * (backpressure on that peer only) and its transactions get FAILURE.
   *
   * @default 10000, or 5000 with security on (each message's signature is verified)
   */
  maxMessagesPerSecond?: number

  /**
   * Received frames buffered for a busy engine before the stream is paused.
   *
   * @default 1000
   */
  receiveQueueSize?: number

  /**
   * How long a new chat waits for the other side's hello, in ms.
   *
   * @default 10000
   */
  helloTimeout?: number

  /**
   * How long `chatWithPeer` may take to connect and open the stream, in ms.
   *
   * @default 10000
   */
  dialTimeout?: number

  /**
   * Signing, permissioned membership and replay protection (Fabric's
   * `security.enabled`). Give the same object to `fabricConnectionGater()` so
   * non-members are refused before any protocol runs.
   */
  security?: SecurityInit

  /**
   * How long a transaction may take end to end (`processTransaction`,
   * `sendTransactionToPeer`, and serving one), in ms.
   *
   * @default 10000
   */
  transactionTimeout?: number

  /**
   * Chat streams a single connection may open to us.
   *
   * @default 4
   */
  maxInboundStreams?: number

  /**
   * Chat streams we may open on a single connection.
   *
   * @default 4
   */
  maxOutboundStreams?: number
}

export interface FabricPeerComponents {
  peerId: PeerId
  privateKey: PrivateKey
  peerStore: PeerStore
  datastore: Datastore
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  /** Which addresses the node can dial: a peer's address none of its transports dials is not taken */
  transportManager?: TransportManager
  /** libp2p's node-wide events: peers identify finds speaking the chat protocol, and those the node's peer discovery reports, join the discovery list */
  events?: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /**
   * libp2p's metrics component, when the node has one (e.g.
   * `@libp2p/prometheus-metrics`). The service then registers, all prefixed
   * `libp2p_fabric_`: `chats{role}` and `established_chats`, `discovery_nodes`,
   * `messages_received_total{type}` and `messages_sent_total{type}`,
   * `send_queue_full_total`, `send_queue_overflows_total`, `throttled_total`,
   * `rejected_peers_total{reason}`, `touch_dials_total` and
   * `touch_dial_failures_total`. Gauges and message counts are computed when
   * metrics are scraped, so the chat hot path makes no metric call. Without
   * it nothing is registered.
   */
  metrics?: Metrics
}

export interface ChatEstablishedEvent {
  peerId: PeerId
  endpoint: PeerEndpoint
  /** True when we opened the chat */
  initiated: boolean
  /** The peer's chain summary from its hello */
  blockchainInfo?: BlockchainInfo
}

export interface ChatClosedEvent {
  peerId: PeerId
  endpoint: PeerEndpoint
  /** Why: our reason, the peer's DISC_DISCONNECT reason, or the stream error */
  reason: string
}

export interface PeerRejectedEvent {
  peerId: PeerId
  /** The protocol violation */
  reason: string
}

export interface SendQueueOverflowEvent {
  peerId: PeerId
  /** Frames waiting in its queue when it overflowed */
  queued: number
}

export interface FabricWarning {
  /** What happened and what the node did about it, in one line */
  message: string
}

export interface ChatMessageEvent {
  peerId: PeerId
  message: Message
}

export interface FabricPeerEvents {
  /** A chat with a new peer completed its hello exchange */
  'peer:established': CustomEvent<ChatEstablishedEvent>
  /** The established chat with a peer ended */
  'peer:closed': CustomEvent<ChatClosedEvent>
  /** A peer broke the protocol and its chat was closed */
  'peer:rejected': CustomEvent<PeerRejectedEvent>
  /** A message arrived on an established chat (after the peer layer and engine handled it) */
  'message': CustomEvent<ChatMessageEvent>
  /** A peer stopped reading what we queue for it (nothing written for sendStallTimeout); it is being disconnected */
  'peer:overflow': CustomEvent<SendQueueOverflowEvent>
  /** The touch loop ran: what was missing, what it dialed, what expired */
  'touch': CustomEvent<TouchTick>
  /** Something an operator should see without debug logging (a corrupt persisted discovery list) */
  'warning': CustomEvent<FabricWarning>
}

export interface BroadcastResult {
  /** Peers the message was queued for */
  sent: PeerId[]
  /** Peers it could not be queued for (closed chat, full queue) */
  failed: Array<{ peerId: PeerId, error: Error }>
}

/**
 * What an engine's handlers can ask of the peer layer (Fabric's
 * `MessageHandlerCoordinator`).
 */
export interface MessageHandlerCoordinator {
  getPeerEndpoint(): PeerEndpoint
  getPeers(): PeersMessage
  /** Send to every established peer of `type` (UNDEFINED: all) */
  broadcast(msg: Message, type?: PeerEndpoint.Type): BroadcastResult
  /** Send to one established peer; throws `NotEstablishedError` if there is no chat with it */
  unicast(msg: Message, peer: PeerId): void
  /**
   * Resolves once the send queue to `peer` has drained to half its bounds (at
   * once if it already has). After a `SendQueueFullError`, wait on this rather
   * than retrying in a loop. Throws `NotEstablishedError` without a chat, and
   * `ChatClosedError` if the chat closes first.
   */
  onDrain(peer: PeerId, options?: AbortOptions): Promise<void>
  /**
   * Resolves once everything queued for `peer` so far has been handed to its
   * stream (the muxer and the socket): what an engine awaits before it
   * acknowledges something the peer must have. Throws `NotEstablishedError`
   * without a chat.
   */
  flush(peer: PeerId, options?: AbortOptions): Promise<void>
  /**
   * The peer's ledger, read over the chat with it (v0.6's
   * `GetRemoteLedger`): blocks, state deltas and state snapshots it answers
   * from its ledger. Throws `NotEstablishedError` if there is no chat with it.
   */
  getRemoteLedger(peer: PeerId): RemoteLedger
}

/**
 * What peers make this node hold right now, in bytes as the node counts them
 * where they are held (`node.services.fabric.usage()`): the figures its
 * limits bound.
 */
export interface FabricUsage {
  /** Chat streams running: established, or in their hello exchange */
  chats: number
  /** Frames received and not yet handled, over all chats */
  inboxFrames: number
  /** What those frames count for: each its encoded size plus FRAME_COST */
  inboxBytes: number
  /** Bytes received and not yet decoded, held while a chat's inbox is full */
  undecodedBytes: number
  /** Bytes queued to send, over all chats */
  sendQueueBytes: number
  /** Bytes transaction requests hold, from their stream's opening until their Response is sent */
  transactionBytes: number
}

/** The service: `node.services.fabric` */
export interface FabricPeer extends MessageHandlerCoordinator, TypedEventTarget<FabricPeerEvents> {
  /** True for a validator */
  readonly validator: boolean
  /** Open a chat (dial if needed) and resolve with the peer's endpoint once the hello exchange completes */
  chatWithPeer(target: ChatTarget, options?: AbortOptions): Promise<PeerEndpoint>
  /** Whether there is an established chat with this peer */
  isEstablished(peer: PeerId): boolean
  /**
   * Submit a transaction: a validator gives it to its engine, a non-validator
   * forwards it to a connected validator. Resolves with a Response, FAILURE
   * with the reason when it could not be processed; never rejects.
   */
  processTransaction(tx: Transaction, options?: AbortOptions): Promise<Response>
  /** Send a transaction to one peer and return its Response; rejects if the peer cannot be reached */
  sendTransactionToPeer(peer: PeerId, tx: Transaction, options?: AbortOptions): Promise<Response>
  /** What peers make this node hold right now */
  usage(): FabricUsage
  /** The discovery list */
  readonly discovery: Discovery
  /** Write the discovery list to the datastore now */
  storeDiscoveryList(): Promise<void>
  /** The addresses in the persisted discovery list */
  loadDiscoveryList(): Promise<string[]>
}

/**
 * A handler for the messages of one chat that the peer layer does not handle
 * itself (Fabric's `MessageHandler`).
 */
export interface MessageHandler {
  handleMessage(msg: Message): void | Promise<void>
  sendMessage(msg: Message): void
  /** The remote peer's endpoint */
  to(): PeerEndpoint
  /** The chat has ended */
  stop(): void | Promise<void>
}

/**
 * Makes the handler for a newly established chat (Fabric's `HandlerFactory`).
 * `chat.remoteEndpoint` is already set; `initiated` is true when we opened it.
 * The handler sends on the chat; the peer layer reads it and calls
 * `handleMessage` for every message that is not its own.
 */
export type HandlerFactory = (coordinator: MessageHandlerCoordinator, chat: ChatSender, initiated: boolean) => MessageHandler

/** A consensus/sync engine (Fabric's `Engine`) */
export interface Engine {
  /** Handle a transaction submitted to this validator, as a CHAIN_TRANSACTION message */
  processTransactionMessage(msg: Message, tx: Transaction): Response | Promise<Response>
  getHandlerFactory(): HandlerFactory
  /** Called when the peer starts, with the peer (Fabric's EngineFactory got it the same way) */
  start?(peer: FabricPeer): void | Promise<void>
  /** Called when the peer stops, before its chats close */
  stop?(): void | Promise<void>
}

/**
 * The Fabric peer service. Put it in the `services` of a libp2p node.
 */
export function fabricPeer (init: FabricPeerInit = {}): (components: FabricPeerComponents) => FabricPeer {
  return (components) => new FabricPeerClass(components, init)
}

export { ChatStream } from './chat/chat-stream.js'
export type { ChatSender, ChatStreamInit } from './chat/chat-stream.js'
export { Discovery } from './discovery/discovery.js'
export type { DiscoveryComponents, DiscoveryInit, DiscoveryNode, NodeRef } from './discovery/discovery.js'
export type { TouchTick } from './touch/touch-loop.js'
export { BlockOutOfOrderError, blockHash, DatastoreLedger, MemoryLedger } from './ledger.js'
export { fabricConnectionGater, Membership } from './security/membership.js'
export type { SecurityInit } from './security/membership.js'
export { libp2pSecurityHelper, signMessage, signTransaction, verifyMessage, verifyTransaction } from './security/signing.js'
export type { SecurityHelper } from './security/signing.js'
export { NoopsEngine, noopsEngine } from './engine/noops/noops.js'
export type { NoopsEngineInit, NoopsUsage } from './engine/noops/noops.js'
export { InvalidBlockError } from './engine/noops/catch-up.js'
export { executeBlock, stateHashOf } from './engine/noops/chaincode.js'
export type { Ledger, StateSnapshot } from './ledger.js'
export type { BlockRange, RemoteLedger, SyncRequestOptions } from './sync/remote-ledger.js'
export { createMessage, timestampNow } from './message.js'
export { response, responseText } from './transaction/transaction-protocol.js'
export { ChatClosedError, InvalidFrameError, InvalidSyncAnswerError, NotEstablishedError, PeerRejectedError, SendQueueFullError } from './errors.js'
export { Block, BlockchainInfo, HelloMessage, Message, PeerEndpoint, PeerID, PeersAddresses, PeersMessage, Response, StateDelta, StateEntry, SyncBlockRange, SyncBlocks, SyncStateDeltas, SyncStateDeltasRequest, SyncStateSnapshot, SyncStateSnapshotRequest, Timestamp, Transaction } from './pb/fabric.js'
export type { ChatTarget } from './addresses.js'
export { peerIdOf } from './addresses.js'

// protocol ids, storage keys and the defaults of the options above; the
// internal limits stay in constants.ts
export {
  CHAT_PROTOCOL,
  TRANSACTION_PROTOCOL,
  DISCOVERY_LIST_KEY,
  DISCOVERY_TAG,
  PEER_TYPE_METADATA,
  VALIDATOR,
  MAX_MESSAGE_SIZE,
  DISCOVERY_PERIOD,
  DISCOVERY_FANOUT,
  PERSIST,
  PERSIST_DELAY,
  TOUCH_PERIOD,
  TOUCH_MAX_NODES,
  TOUCH_CONCURRENCY,
  MIN_VALIDATORS,
  MAX_DISCOVERY_ENTRIES,
  MAX_PEERS_PER_MESSAGE,
  DIAL_BACKOFF_INITIAL,
  DIAL_BACKOFF_MAX,
  EXPIRE_AFTER,
  SEND_QUEUE_SIZE,
  SEND_QUEUE_BYTES,
  SEND_STALL_TIMEOUT,
  RECEIVE_QUEUE_SIZE,
  MAX_MESSAGES_PER_SECOND,
  MAX_MESSAGES_PER_SECOND_SECURE,
  HELLO_TIMEOUT,
  DIAL_TIMEOUT,
  TRANSACTION_TIMEOUT,
  MAX_INBOUND_CHAT_STREAMS,
  MAX_OUTBOUND_CHAT_STREAMS
} from './constants.js'
