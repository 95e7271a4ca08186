import { InvalidParametersError, NotStartedError, setMaxListeners } from '@libp2p/interface'
import { trackedMap } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import { raceSignal } from 'race-signal'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { resolveTarget } from '../addresses.js'
import { CHAT_PROTOCOL, HELLO_RECEIVE_FRAMES } from '../constants.js'
import { NotEstablishedError } from '../errors.js'
import { encodeMessage } from './frames.js'
import { PeerEndpoint } from '../pb/fabric.js'
import { ChatSession, DUPLICATE_CHAT } from './chat-session.js'
import { ChatStream } from './chat-stream.js'
import { LedgerServer } from '../sync/ledger-server.js'
import type { ChatSessionContext, Registration } from './chat-session.js'
import type { RemoteLedger } from '../sync/remote-ledger.js'
import type { PeerExchange } from './peer-exchange.js'
import type { ChatTarget } from '../addresses.js'
import type { Discovery } from '../discovery/discovery.js'
import type { BroadcastResult, FabricPeerEvents, FabricUsage, HandlerFactory, MessageHandler, MessageHandlerCoordinator } from '../index.js'
import type { ResolvedInit } from '../init.js'
import type { FabricMetrics } from '../metrics.js'
import type { HelloMessage, Message, PeersMessage } from '../pb/fabric.js'
import type { PeerGuard } from '../security/peer-guard.js'
import type { AbortOptions, ComponentLogger, Connection, Counter, Logger, Metrics, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { TypedEventEmitter } from 'main-event'

export interface ChatRegistryComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  metrics?: Metrics
}

export type ChatRegistryInit = Pick<ResolvedInit,
'helloTimeout' | 'dialTimeout' | 'maxMessageSize' | 'sendQueueSize' | 'sendQueueBytes' | 'sendStallTimeout' |
'receiveQueueSize' | 'maxMessagesPerSecond' | 'maxInboundStreams' | 'maxOutboundStreams' | 'validator' | 'ledger' | 'handlerFactory'> & {
  guard: PeerGuard
  exchange: PeerExchange
  discovery: Discovery
  /** Where peer:established, peer:closed, peer:rejected, peer:overflow and message are dispatched */
  events: TypedEventEmitter<FabricPeerEvents>
  metrics?: FabricMetrics
  /** Our endpoint as our hello and DISC_PEERS give it */
  localEndpoint(): PeerEndpoint
}

/**
 * The chats of one node (Fabric's `handlerMap` and its `RegisterHandler`):
 * it takes inbound chat streams and dials outbound ones, runs a
 * {@link ChatSession} for each, keeps exactly one established chat per peer
 * (resolving simultaneous dials the same way on both sides), and is the
 * coordinator engines see: broadcast, unicast, the peers, our endpoint.
 */
export class ChatRegistry implements Startable, ChatSessionContext {
  readonly helloTimeout: number
  readonly maxMessagesPerSecond: number
  readonly throttled?: Counter
  readonly guard: PeerGuard
  readonly exchange: PeerExchange
  readonly ledgerServer: LedgerServer
  /** What engines are handed: the part of the registry an engine may use */
  readonly coordinator: MessageHandlerCoordinator

  private readonly components: ChatRegistryComponents
  private readonly init: ChatRegistryInit
  private readonly log: Logger
  private readonly events: TypedEventEmitter<FabricPeerEvents>
  private readonly overflows?: Counter
  /** Established chats, one per peer */
  private readonly established: Map<string, ChatSession>
  /** Every chat that is running, established or not, with its run loop */
  private readonly running = new Map<ChatSession, Promise<void>>()
  /** Dials in progress, so concurrent `chatWithPeer` calls share one */
  private readonly dials = new Map<string, Promise<PeerEndpoint>>()
  private shutdown = new AbortController()
  private started = false

  constructor (components: ChatRegistryComponents, init: ChatRegistryInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:fabric:peer')
    this.helloTimeout = init.helloTimeout
    this.maxMessagesPerSecond = init.maxMessagesPerSecond
    this.guard = init.guard
    this.exchange = init.exchange
    this.ledgerServer = new LedgerServer({ ledger: init.ledger, maxMessageSize: init.maxMessageSize, log: components.logger.forComponent('libp2p:fabric:sync') })
    this.events = init.events
    this.established = trackedMap({ name: 'libp2p_fabric_established_chats', metrics: components.metrics })
    this.overflows = components.metrics?.registerCounter('libp2p_fabric_send_queue_overflows_total', { help: 'Peers disconnected because they stopped reading what we queued for them' })
    this.throttled = components.metrics?.registerCounter('libp2p_fabric_throttled_total', { help: 'Times a peer went over maxMessagesPerSecond and its chat was paused' })
    this.onInboundChat = this.onInboundChat.bind(this)
    this.coordinator = Object.freeze({
      getPeerEndpoint: () => this.init.localEndpoint(),
      getPeers: () => this.getPeers(),
      broadcast: (msg: Message, type?: PeerEndpoint.Type) => this.broadcast(msg, type),
      unicast: (msg: Message, peer: PeerId) => { this.unicast(msg, peer) },
      onDrain: async (peer: PeerId, options?: AbortOptions) => { await this.onDrain(peer, options) },
      flush: async (peer: PeerId, options?: AbortOptions) => { await this.flush(peer, options) },
      getRemoteLedger: (peer: PeerId) => this.getRemoteLedger(peer)
    })
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    setMaxListeners(Infinity, this.shutdown.signal)
    await this.components.registrar.handle(CHAT_PROTOCOL, this.onInboundChat, {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: this.init.maxOutboundStreams
    })
  }

  /** Take chats from now on: until then inbound chats are refused and chatWithPeer throws NotStartedError */
  open (): void {
    this.started = true
  }

  /** Stop taking chats and close every one gracefully (each says why, bounded by CLOSE_TIMEOUT) */
  async beforeStop (): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(CHAT_PROTOCOL)
    await Promise.all([...this.running.keys()].map(async session => { await session.close('peer is stopping') }))
  }

  async stop (): Promise<void> {
    this.started = false
    this.shutdown.abort()
    await Promise.all(this.running.values())
  }

  /** What the chats hold now: received and not yet handled, and queued to send */
  usage (): Omit<FabricUsage, 'transactionBytes'> {
    const usage = { chats: 0, inboxFrames: 0, inboxBytes: 0, undecodedBytes: 0, sendQueueBytes: 0 }

    for (const session of this.running.keys()) {
      const received = session.chat.received
      usage.chats++
      usage.inboxFrames += received.frames
      usage.inboxBytes += received.bytes
      usage.undecodedBytes += received.undecoded
      usage.sendQueueBytes += session.chat.queuedBytes
    }

    return usage
  }

  /** The established chats */
  sessions (): ChatSession[] {
    return [...this.established.values()]
  }

  /** Our established peers' endpoints */
  getPeers (): PeersMessage {
    return { peers: this.sessions().map(session => session.to()) }
  }

  isEstablished (peer: PeerId): boolean {
    return this.established.has(peer.toString())
  }

  /** Open a chat (dial if needed) and resolve with the peer's endpoint once the hello exchange completes */
  async chatWithPeer (target: ChatTarget, options: AbortOptions = {}): Promise<PeerEndpoint> {
    if (!this.started) {
      throw new NotStartedError('fabricPeer is not started')
    }

    const { peerId, dialTarget } = resolveTarget(target)

    if (peerId.equals(this.components.peerId)) {
      throw new InvalidParametersError('A peer does not chat with itself')
    }

    const key = peerId.toString()
    const existing = this.established.get(key)

    if (existing != null) {
      return existing.to()
    }

    let dial = this.dials.get(key)

    if (dial == null) {
      // shared by every caller: bounded by dialTimeout and shutdown only, each
      // caller's own signal ends only that caller's wait
      dial = this.dial(peerId, dialTarget).finally(() => this.dials.delete(key))
      this.dials.set(key, dial)
    }

    return raceSignal(dial, options.signal)
  }

  broadcast (msg: Message, type: PeerEndpoint.Type = PeerEndpoint.Type.UNDEFINED): BroadcastResult {
    // encoded (and signed) once for every peer
    const encoded = encodeMessage(this.guard.signer?.(msg) ?? msg)
    const result: BroadcastResult = { sent: [], failed: [] }

    for (const session of this.established.values()) {
      if (type !== PeerEndpoint.Type.UNDEFINED && session.to().type !== type) {
        continue
      }

      try {
        session.chat.sendEncoded(encoded)
        result.sent.push(session.remotePeer)
      } catch (error: any) {
        this.log('broadcast to %p failed - %e', session.remotePeer, error)
        result.failed.push({ peerId: session.remotePeer, error })
      }
    }

    return result
  }

  unicast (msg: Message, peer: PeerId): void {
    this.establishedWith(peer).sendMessage(msg)
  }

  getRemoteLedger (peer: PeerId): RemoteLedger {
    return this.establishedWith(peer).remoteLedger
  }

  async onDrain (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.establishedWith(peer).chat.onDrain(options)
  }

  async flush (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.establishedWith(peer).chat.flushed(options)
  }

  // ChatSessionContext: called by each ChatSession

  async localHello (): Promise<HelloMessage> {
    return {
      peerEndpoint: this.init.localEndpoint(),
      blockchainInfo: await this.init.ledger.getBlockchainInfo()
    }
  }

  createEngineHandler (chat: ChatStream): MessageHandler | undefined {
    const factory: HandlerFactory | undefined = this.init.handlerFactory
    return factory?.(this.coordinator, chat, chat.initiated)
  }

  register (session: ChatSession): Registration {
    if (!this.started) {
      return { kept: false, reason: 'peer is stopping' }
    }

    const endpoint = session.to()
    // the peer's own word on its address and role: remember both
    this.init.discovery.addEndpoint(endpoint, true)

    if (!this.init.validator && endpoint.type === PeerEndpoint.Type.NON_VALIDATOR) {
      this.init.metrics?.rejected('policy')
      return { kept: false, reason: 'non-validators do not chat with each other' }
    }

    const key = session.remotePeer.toString()
    const existing = this.established.get(key)

    if (existing === session) {
      return { kept: true }
    }

    if (existing != null) {
      if (!this.keepsNew(session, existing)) {
        this.log('keeping the existing chat with %p, closing the duplicate', session.remotePeer)
        return { kept: false, reason: DUPLICATE_CHAT }
      }

      // swap quietly: the peer stays established throughout
      this.log('replacing the chat with %p by a %s one', session.remotePeer, session.initiated ? 'outbound' : 'inbound')
      this.established.set(key, session)
      void existing.close(DUPLICATE_CHAT)
      return { kept: true }
    }

    this.established.set(key, session)
    this.log('established chat with %p (%s)', session.remotePeer, session.initiated ? 'outbound' : 'inbound')
    this.exchange.established(session)
    this.events.safeDispatchEvent('peer:established', {
      detail: { peerId: session.remotePeer, endpoint, initiated: session.initiated, blockchainInfo: session.blockchainInfo }
    })
    return { kept: true }
  }

  deregister (session: ChatSession): void {
    const key = session.remotePeer.toString()

    if (this.established.get(key) !== session) {
      return
    }

    this.established.delete(key)
    this.exchange.closed()
    const reason = session.closeReason ?? 'closed'
    this.log('chat with %p closed: %s', session.remotePeer, reason)
    this.events.safeDispatchEvent('peer:closed', {
      detail: { peerId: session.remotePeer, endpoint: session.to(), reason }
    })
  }

  async replacementFor (session: ChatSession): Promise<void> {
    const pending = [...this.running.keys()].filter(s => s !== session && s.state === 'created' && s.remotePeer.equals(session.remotePeer))

    if (pending.length > 0) {
      const settled = Promise.allSettled(pending.map(async s => s.established))
      await raceSignal(settled, AbortSignal.timeout(this.helloTimeout)).catch(() => {})
    }
  }

  rejected (session: ChatSession, reason: string): void {
    this.log.error('rejected %p: %s', session.remotePeer, reason)
    this.init.metrics?.rejected(reason)
    this.events.safeDispatchEvent('peer:rejected', { detail: { peerId: session.remotePeer, reason } })
  }

  delivered (session: ChatSession, message: Message): void {
    if (this.events.listenerCount('message') > 0) {
      this.events.safeDispatchEvent('message', { detail: { peerId: session.remotePeer, message } })
    }
  }

  // private

  private onInboundChat (stream: Stream, connection: Connection): void {
    if (!this.started) {
      stream.abort(new NotStartedError('fabricPeer is not started'))
      return
    }

    this.runChat(stream, connection.remotePeer)
  }

  private async dial (peerId: PeerId, target: PeerId | Multiaddr[]): Promise<PeerEndpoint> {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.init.dialTimeout)])
    let session: ChatSession

    try {
      const connection = await this.components.connectionManager.openConnection(target, { signal })
      const stream = await connection.newStream(CHAT_PROTOCOL, { signal })
      session = this.runChat(stream, connection.remotePeer)
    } finally {
      signal.clear()
    }

    // bounded by helloTimeout inside the session
    await session.established

    // a simultaneous dial may have kept the peer's stream instead of ours
    const kept = this.established.get(peerId.toString())

    if (kept == null) {
      throw new NotEstablishedError(`Chat with ${peerId} closed as soon as it was established: ${session.closeReason ?? 'unknown reason'}`)
    }

    return kept.to()
  }

  private runChat (stream: Stream, remotePeer: PeerId): ChatSession {
    let session: ChatSession | undefined
    const chat = new ChatStream(stream, remotePeer, {
      maxMessageSize: this.init.maxMessageSize,
      sendQueueSize: this.init.sendQueueSize,
      sendQueueBytes: this.init.sendQueueBytes,
      sendStallTimeout: this.init.sendStallTimeout,
      receiveQueueSize: this.init.receiveQueueSize,
      receiveQueueSizeBeforeHello: HELLO_RECEIVE_FRAMES,
      signer: this.guard.signer,
      counters: this.init.metrics?.messages,
      onStall: () => { if (session != null) this.dropStalled(session) }
    })
    session = new ChatSession(this, chat, this.log)
    const run = session.run(this.shutdown.signal).finally(() => this.running.delete(session))
    this.running.set(session, run)
    return session
  }

  /**
   * A peer that has stopped reading (the chat stream says so): report it
   * (peer:overflow, metric) and disconnect it, so it holds no more of our
   * memory and the touch loop may try it afresh.
   */
  private dropStalled (session: ChatSession): void {
    const queued = session.chat.queued
    this.overflows?.increment()
    this.events.safeDispatchEvent('peer:overflow', { detail: { peerId: session.remotePeer, queued } })
    void session.close(`send queue stalled: ${queued} frames unread for over ${this.init.sendStallTimeout}ms`)
  }

  /** The established chat's session, or NotEstablishedError */
  private establishedWith (peer: PeerId): ChatSession {
    const session = this.established.get(peer.toString())

    if (session == null) {
      throw new NotEstablishedError(`No established chat with ${peer}`)
    }

    return session
  }

  /**
   * Of two chats with the same peer, which one stays. Opposite directions (both
   * dialed at once): the stream opened by the peer with the smaller PeerId, so
   * both sides make the same choice. Same direction: the newer one, as the old
   * one is a stale stream the peer has given up on.
   */
  private keepsNew (candidate: ChatSession, existing: ChatSession): boolean {
    if (candidate.initiated === existing.initiated) {
      return true
    }

    const localIsSmaller = uint8ArrayCompare(this.components.peerId.toMultihash().bytes, candidate.remotePeer.toMultihash().bytes) < 0
    return candidate.initiated === localIsSmaller
  }
}
