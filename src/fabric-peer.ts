import { InvalidParametersError, NotStartedError, peerDiscoverySymbol, serviceCapabilities, setMaxListeners } from '@libp2p/interface'
import { RateLimiter, repeatingTask, trackedMap } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import { anySignal } from 'any-signal'
import { TypedEventEmitter } from 'main-event'
import { raceSignal } from 'race-signal'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { ChatStream } from './chat/chat-stream.js'
import { encodeMessage } from './chat/frames.js'
import { DUPLICATE_CHAT, PeerHandler } from './chat/peer-handler.js'
import * as c from './constants.js'
import { Discovery, peerIdOf, rememberedType, sample } from './discovery/discovery.js'
import { DiscoveryListStore } from './discovery/persistence.js'
import { selfEndpoint } from './endpoint.js'
import { NotEstablishedError } from './errors.js'
import { MemoryLedger } from './ledger.js'
import { FabricMetrics } from './metrics.js'
import { createMessage, timestampNow } from './message.js'
import { Message, PeerEndpoint, PeersMessage, Response, Transaction } from './pb/fabric.js'
import { requestTransaction, response, serveTransaction } from './transaction/transaction-protocol.js'
import { Membership } from './security/membership.js'
import { checkMessage, libp2pSecurityHelper, signMessage, signTransaction } from './security/signing.js'
import { TransactionGuard } from './security/transaction-guard.js'
import { TouchLoop } from './touch/touch-loop.js'
import type { SecurityHelper } from './security/signing.js'
import type { ChatCoordinator, Registration } from './chat/peer-handler.js'
import type { BroadcastResult, ChatTarget, Engine, FabricPeerComponents, FabricPeerEvents, FabricPeerInit, FabricPeer as FabricPeerInterface, HandlerFactory, MessageHandler } from './index.js'
import type { Ledger } from './ledger.js'
import type { HelloMessage } from './pb/fabric.js'
import type { AbortOptions, Connection, Counter, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Chats asked for their peers as soon as they are established, per discovery period */
const EARLY_ASKS_PER_PERIOD = 3

/**
 * Fabric v0.6's `peer.Impl` as a libp2p service: one Chat stream per peer,
 * registered by PeerId once both hellos are exchanged.
 */
export class FabricPeer extends TypedEventEmitter<FabricPeerEvents> implements Startable, FabricPeerInterface, ChatCoordinator {
  readonly validator: boolean
  readonly ledger: Ledger
  readonly helloTimeout: number
  readonly maxPeersPerMessage: number
  readonly peerExchangeInterval: number
  readonly secure: boolean
  /** The discovery list: root nodes, the persisted list and what peers told us */
  readonly discovery: Discovery

  private readonly components: FabricPeerComponents
  private readonly log: Logger
  private readonly address?: string
  private readonly handlerFactory?: HandlerFactory
  private readonly engine?: Engine
  private readonly transactionTimeout: number
  private readonly discoveryPeriod: number
  private readonly dialTimeout: number
  private readonly maxMessageSize: number
  private readonly sendQueueSize: number
  private readonly sendQueueBytes: number
  private readonly sendStallTimeout: number
  private readonly receiveQueueSize: number
  private readonly maxInboundStreams: number
  private readonly maxOutboundStreams: number
  /** Established chats, one per peer (Fabric's handlerMap) */
  private readonly handlers: Map<string, PeerHandler>
  /** Every chat that is running, established or not, with its run loop */
  private readonly running = new Map<PeerHandler, Promise<void>>()
  /** Dials in progress, so concurrent `chatWithPeer` calls share one */
  private readonly dials = new Map<string, Promise<PeerEndpoint>>()
  private readonly askForPeers: RepeatingTask
  private readonly overflows?: Counter
  private readonly throttled?: Counter
  /** Only with a libp2p `metrics` component */
  private readonly metrics?: FabricMetrics
  private readonly rateLimiter: RateLimiter
  private readonly maxMessagesPerSecond: number
  private readonly membership: Membership
  private readonly securityHelper: SecurityHelper
  private readonly maxMessageAge: number
  private readonly transactionGuard: TransactionGuard
  private readonly signer?: (msg: Message) => Message
  /** DISC_GET_PEERS sent on establishment in this discovery period */
  private earlyAsks = 0
  private readonly discoveryFanout: number
  private readonly touch: TouchLoop
  private readonly rootNodes: Multiaddr[]
  private readonly listStore?: DiscoveryListStore
  private shutdown: AbortController
  private started = false

  constructor (components: FabricPeerComponents, init: FabricPeerInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('libp2p:fabric:peer')

    if (init.engine != null && init.handlerFactory != null) {
      throw new InvalidParametersError('Give fabricPeer an engine or a handlerFactory, not both')
    }

    this.validator = init.validator ?? c.VALIDATOR
    this.address = init.address
    this.ledger = init.ledger ?? new MemoryLedger()
    this.engine = init.engine
    this.handlerFactory = init.engine?.getHandlerFactory() ?? init.handlerFactory
    this.transactionTimeout = positive('transactionTimeout', init.transactionTimeout, c.TRANSACTION_TIMEOUT, MAX_DELAY)
    this.discoveryPeriod = positive('discoveryPeriod', init.discoveryPeriod, c.DISCOVERY_PERIOD, MAX_DELAY)
    this.helloTimeout = positive('helloTimeout', init.helloTimeout, c.HELLO_TIMEOUT, MAX_DELAY)
    this.dialTimeout = positive('dialTimeout', init.dialTimeout, c.DIAL_TIMEOUT, MAX_DELAY)
    this.maxMessageSize = positive('maxMessageSize', init.maxMessageSize, c.MAX_MESSAGE_SIZE)
    this.sendQueueSize = positive('sendQueueSize', init.sendQueueSize, c.SEND_QUEUE_SIZE)
    this.sendQueueBytes = positive('sendQueueBytes', init.sendQueueBytes, c.SEND_QUEUE_BYTES)
    this.sendStallTimeout = positive('sendStallTimeout', init.sendStallTimeout, c.SEND_STALL_TIMEOUT, MAX_DELAY)
    this.receiveQueueSize = positive('receiveQueueSize', init.receiveQueueSize, c.RECEIVE_QUEUE_SIZE)
    this.maxInboundStreams = positive('maxInboundStreams', init.maxInboundStreams, c.MAX_INBOUND_CHAT_STREAMS)
    this.maxOutboundStreams = positive('maxOutboundStreams', init.maxOutboundStreams, c.MAX_OUTBOUND_CHAT_STREAMS)

    this.maxPeersPerMessage = positive('maxPeersPerMessage', init.maxPeersPerMessage, c.MAX_PEERS_PER_MESSAGE)
    // peers ask every discoveryPeriod; more often than twice that is a flood
    this.peerExchangeInterval = this.discoveryPeriod / 2
    this.rootNodes = parseRootNodes(init.rootNodes)
    const persist = init.persist ?? c.PERSIST

    if (persist) {
      this.listStore = new DiscoveryListStore(components.datastore, {
        key: c.DISCOVERY_LIST_KEY,
        maxAddresses: positive('maxDiscoveryEntries', init.maxDiscoveryEntries, c.MAX_DISCOVERY_ENTRIES) * c.MAX_ADDRESSES_PER_NODE,
        delay: nonNegative('persistDelay', init.persistDelay, c.PERSIST_DELAY, MAX_DELAY),
        log: components.logger.forComponent('libp2p:fabric:discovery:store')
      })
    }

    const discoveryLog = components.logger.forComponent('libp2p:fabric:discovery')
    this.discovery = new Discovery(components, {
      maxEntries: positive('maxDiscoveryEntries', init.maxDiscoveryEntries, c.MAX_DISCOVERY_ENTRIES),
      log: discoveryLog,
      onChange: () => { this.listStore?.schedule(() => this.discovery.addresses()) }
    })

    const discoveryFanout = init.discoveryFanout ?? c.DISCOVERY_FANOUT
    if (!Number.isInteger(discoveryFanout) || discoveryFanout < -1) {
      throw new InvalidParametersError(`fabricPeer discoveryFanout must be -1 (every chat) or a whole number >= 0, got ${discoveryFanout}`)
    }
    this.discoveryFanout = discoveryFanout

    const touchMaxNodes = init.touchMaxNodes ?? c.TOUCH_MAX_NODES
    if (!Number.isInteger(touchMaxNodes) || touchMaxNodes < -1) {
      throw new InvalidParametersError(`fabricPeer touchMaxNodes must be -1 (unlimited) or a whole number >= 0, got ${touchMaxNodes}`)
    }

    this.touch = new TouchLoop({
      peerId: components.peerId,
      discovery: this.discovery,
      established: () => [...this.handlers.values()].map(h => ({ peerId: h.remotePeer, type: h.to().type })),
      isEstablished: (peerId) => this.handlers.has(peerId.toString()),
      dial: async (node, options) => {
        this.metrics?.touchDialed()

        try {
          return await this.chatWithPeer(node.addresses, options)
        } catch (err) {
          if (options.signal?.aborted !== true) {
            this.metrics?.touchDialFailed()
          }

          throw err
        }
      }
    }, {
      touchPeriod: nonNegative('touchPeriod', init.touchPeriod, c.TOUCH_PERIOD, MAX_DELAY),
      touchMaxNodes,
      concurrency: positive('touchConcurrency', init.touchConcurrency, c.TOUCH_CONCURRENCY),
      validator: this.validator,
      minValidators: positive('minValidators', init.minValidators, c.MIN_VALIDATORS),
      backoffInitial: positive('dialBackoffInitial', init.dialBackoffInitial, c.DIAL_BACKOFF_INITIAL, MAX_DELAY),
      backoffMax: positive('dialBackoffMax', init.dialBackoffMax, c.DIAL_BACKOFF_MAX, MAX_DELAY),
      expireAfter: positive('expireAfter', init.expireAfter, c.EXPIRE_AFTER, MAX_DELAY),
      log: components.logger.forComponent('libp2p:fabric:touch'),
      onTick: (tick) => { this.safeDispatchEvent('touch', { detail: tick }) }
    })

    if (init.address != null) {
      try {
        multiaddr(init.address)
      } catch {
        throw new InvalidParametersError(`fabricPeer address ${init.address} is not a multiaddr`)
      }
    }

    this.handlers = trackedMap({ name: 'libp2p_fabric_established_chats', metrics: components.metrics })
    this.overflows = components.metrics?.registerCounter('libp2p_fabric_send_queue_overflows_total', { help: 'Peers disconnected because they stopped reading what we queued for them' })
    this.throttled = components.metrics?.registerCounter('libp2p_fabric_throttled_total', { help: 'Times a peer went over maxMessagesPerSecond and its chat was paused' })
    this.metrics = components.metrics == null
      ? undefined
      : new FabricMetrics(components.metrics, {
        chatRoles: () => [...this.handlers.values()].map(handler => handler.to().type),
        discoverySize: () => this.discovery.size
      })
    this.secure = init.security?.enabled === true
    this.membership = new Membership(init.security)
    this.securityHelper = init.security?.helper ?? libp2pSecurityHelper(components.privateKey)
    this.maxMessageAge = nonNegative('security.maxMessageAge', init.security?.maxMessageAge, 0)
    this.transactionGuard = new TransactionGuard(this.securityHelper, this.membership, this.maxMessageAge)

    if (this.secure) {
      checkHelper(this.securityHelper, components.privateKey)
    }

    this.signer = this.secure ? (msg) => signMessage(this.securityHelper, msg) : undefined
    this.maxMessagesPerSecond = positive('maxMessagesPerSecond', init.maxMessagesPerSecond, this.secure ? c.MAX_MESSAGES_PER_SECOND_SECURE : c.MAX_MESSAGES_PER_SECOND)
    // transactions, per remote peer
    this.rateLimiter = new RateLimiter({ points: this.maxMessagesPerSecond, duration: 1 })
    this.shutdown = new AbortController()
    this.askForPeers = repeatingTask(() => { this.sweep() }, this.discoveryPeriod)
    this.onInboundChat = this.onInboundChat.bind(this)
    this.onTransactionStream = this.onTransactionStream.bind(this)
  }

  readonly [Symbol.toStringTag] = 'libp2p-fabric-peer'

  readonly [serviceCapabilities]: string[] = ['@hyperledger/fabric-peer']

  /** libp2p registers a service with this as a peer discovery: it emits `peer` for every node in the list */
  get [peerDiscoverySymbol] (): Discovery {
    return this.discovery
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    setMaxListeners(Infinity, this.shutdown.signal)

    await this.components.registrar.handle(c.CHAT_PROTOCOL, this.onInboundChat, {
      maxInboundStreams: this.maxInboundStreams,
      maxOutboundStreams: this.maxOutboundStreams
    })
    await this.components.registrar.handle(c.TRANSACTION_PROTOCOL, this.onTransactionStream, {
      maxInboundStreams: c.MAX_INBOUND_TRANSACTION_STREAMS,
      maxOutboundStreams: c.MAX_OUTBOUND_TRANSACTION_STREAMS
    })

    this.listStore?.open()
    await this.initDiscovery()
    await this.engine?.start?.(this)
    this.started = true
    this.askForPeers.start()
  }

  /** The touch loop starts once libp2p listens, so our hellos carry a dialable address */
  afterStart (): void {
    this.touch.start()
  }

  /**
   * libp2p calls this on every component before stopping any, so connections
   * are still up: each peer is told why we go (DISC_DISCONNECT) and the chats
   * close gracefully, each bounded by CLOSE_TIMEOUT.
   */
  async beforeStop (): Promise<void> {
    this.started = false
    this.askForPeers.stop()
    this.touch.stop()
    await this.engine?.stop?.()
    await this.components.registrar.unhandle(c.CHAT_PROTOCOL)
    await this.components.registrar.unhandle(c.TRANSACTION_PROTOCOL)
    await Promise.all([...this.running.keys()].map(async handler => { await handler.close('peer is stopping') }))
    // write a pending change now; nothing is written after this
    await this.listStore?.close()
    await this.discovery.flush()
  }

  async stop (): Promise<void> {
    if (this.started) {
      // stopped on its own rather than by libp2p
      await this.beforeStop()
    }

    this.shutdown.abort()
    await Promise.all(this.running.values())
  }

  isStarted (): boolean {
    return this.started
  }

  getPeerEndpoint (): PeerEndpoint {
    const { peerId, privateKey, addressManager } = this.components
    return selfEndpoint(peerId, privateKey.publicKey, addressManager.getAddresses(), this.validator, this.address)
  }

  getPeers (): PeersMessage {
    return { peers: [...this.handlers.values()].map(handler => handler.to()) }
  }

  /** Write the discovery list to the datastore now (it is also written after every change, and at stop) */
  async storeDiscoveryList (): Promise<void> {
    this.listStore?.schedule(() => this.discovery.addresses())
    await this.listStore?.flush()
  }

  /** The addresses in the persisted discovery list ([] with `persist: false`) */
  async loadDiscoveryList (): Promise<string[]> {
    return await this.listStore?.load() ?? []
  }

  isEstablished (peer: PeerId): boolean {
    return this.handlers.has(peer.toString())
  }

  async chatWithPeer (target: ChatTarget, options: AbortOptions = {}): Promise<PeerEndpoint> {
    if (!this.started) {
      throw new NotStartedError('fabricPeer is not started')
    }

    const { peerId, dialTarget } = resolveTarget(target)

    if (peerId.equals(this.components.peerId)) {
      throw new InvalidParametersError('A peer does not chat with itself')
    }

    const key = peerId.toString()
    const existing = this.handlers.get(key)

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
    const encoded = encodeMessage(this.signer?.(msg) ?? msg)
    const result: BroadcastResult = { sent: [], failed: [] }

    for (const handler of this.handlers.values()) {
      if (type !== PeerEndpoint.Type.UNDEFINED && handler.to().type !== type) {
        continue
      }

      try {
        handler.sendEncoded(encoded)
        result.sent.push(handler.remotePeer)
      } catch (error: any) {
        this.log('broadcast to %p failed - %e', handler.remotePeer, error)
        result.failed.push({ peerId: handler.remotePeer, error })
      }
    }

    return result
  }

  async onDrain (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.establishedWith(peer).chat.onDrain(options)
  }

  async flush (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.establishedWith(peer).chat.flushed(options)
  }

  unicast (msg: Message, peer: PeerId): void {
    this.establishedWith(peer).sendMessage(msg)
  }

  /** The established chat's handler, or NotEstablishedError */
  private establishedWith (peer: PeerId): PeerHandler {
    const handler = this.handlers.get(peer.toString())

    if (handler == null) {
      throw new NotEstablishedError(`No established chat with ${peer}`)
    }

    return handler
  }

  /**
   * Fabric's `ExecuteTransaction`: a validator hands the transaction to its
   * engine (as a CHAIN_TRANSACTION message); a non-validator forwards it to its
   * established validators, in random order, until one answers. Never throws:
   * failures are a FAILURE Response with the reason, within `transactionTimeout`.
   */
  async processTransaction (tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.transactionTimeout), options.signal])
    tx = this.signed(tx)

    try {
      return this.validator ? await this.toEngine(tx, signal) : await this.toValidators(tx, signal)
    } catch (err: any) {
      return response(Response.StatusCode.FAILURE, signal.aborted ? `transaction ${tx.txid} timed out after ${this.transactionTimeout}ms` : `transaction ${tx.txid} failed: ${err.message}`)
    } finally {
      signal.clear()
    }
  }

  /**
   * Send a transaction to one peer over `/fabric/transaction/1.0.0` and return its Response.
   *
   * @throws when the peer cannot be reached or does not answer in time
   */
  async sendTransactionToPeer (peer: PeerId, tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.transactionTimeout), options.signal])

    try {
      const stream = await this.components.connectionManager.openStream(peer, c.TRANSACTION_PROTOCOL, { signal })
      return await requestTransaction(stream, this.signed(tx), { maxMessageSize: this.maxMessageSize, signal })
    } finally {
      signal.clear()
    }
  }

  // ChatCoordinator: called by each PeerHandler

  async localHello (): Promise<HelloMessage> {
    return {
      peerEndpoint: this.getPeerEndpoint(),
      blockchainInfo: await this.ledger.getBlockchainInfo()
    }
  }

  createEngineHandler (chat: ChatStream): MessageHandler | undefined {
    return this.handlerFactory?.(this, chat, chat.initiated)
  }

  register (handler: PeerHandler): Registration {
    if (!this.started) {
      return { kept: false, reason: 'peer is stopping' }
    }

    const endpoint = handler.to()
    // the peer's own word on its address and role: remember both
    this.discovery.addEndpoint(endpoint, true)

    if (!this.validator && endpoint.type === PeerEndpoint.Type.NON_VALIDATOR) {
      this.metrics?.rejected('policy')
      return { kept: false, reason: 'non-validators do not chat with each other' }
    }

    const key = handler.remotePeer.toString()
    const existing = this.handlers.get(key)

    if (existing === handler) {
      return { kept: true }
    }

    if (existing != null) {
      if (!this.keepsNew(handler, existing)) {
        this.log('keeping the existing chat with %p, closing the duplicate', handler.remotePeer)
        return { kept: false, reason: DUPLICATE_CHAT }
      }

      // swap quietly: the peer stays established throughout
      this.log('replacing the chat with %p by a %s one', handler.remotePeer, handler.initiated ? 'outbound' : 'inbound')
      this.handlers.set(key, handler)
      void existing.close(DUPLICATE_CHAT)
      return { kept: true }
    }

    this.handlers.set(key, handler)
    this.log('established chat with %p (%s)', handler.remotePeer, handler.initiated ? 'outbound' : 'inbound')

    // a new peer's peers now, not at the next discovery period: a node that
    // has just joined learns the network from its first chats. Only the first
    // few per period: in a forming mesh every chat asking at once is O(N^2)
    // lists of N entries on top of the periodic exchange, for nothing new
    if (this.earlyAsks < EARLY_ASKS_PER_PERIOD) {
      this.earlyAsks++
      try {
        handler.sendMessage(createMessage(Message.Type.DISC_GET_PEERS))
      } catch {}
    }
    this.safeDispatchEvent('peer:established', {
      detail: { peerId: handler.remotePeer, endpoint, initiated: handler.initiated, blockchainInfo: handler.blockchainInfo }
    })
    return { kept: true }
  }

  deregister (handler: PeerHandler): void {
    const key = handler.remotePeer.toString()

    if (this.handlers.get(key) !== handler) {
      return
    }

    this.handlers.delete(key)
    const reason = handler.closeReason ?? 'closed'
    this.log('chat with %p closed: %s', handler.remotePeer, reason)
    this.safeDispatchEvent('peer:closed', {
      detail: { peerId: handler.remotePeer, endpoint: handler.to(), reason }
    })
  }

  messageReceived (handler: PeerHandler, message: Message): void {
    if (this.listenerCount('message') > 0) {
      this.safeDispatchEvent('message', { detail: { peerId: handler.remotePeer, message } })
    }
  }

  peersReceived (handler: PeerHandler, peers: PeerEndpoint[]): void {
    // learned nodes wait for the touch loop: no dial storm from one message
    const sizeBefore = this.discovery.size
    let added = 0

    for (const endpoint of peers) {
      if (this.discovery.addEndpoint(endpoint)) {
        added++
      }
    }

    this.log.trace('%p sent %d peers, %d in discovery', handler.remotePeer, peers.length, added)

    if (this.discovery.size > sizeBefore) {
      // new nodes: the touch loop runs soon instead of at its next period
      this.touch.nudge()
    }
  }

  /** Our chats for a DISC_PEERS: a random sample if there are more than a peer accepts or a frame holds */
  peersToShare (): PeersMessage {
    const all = [...this.handlers.values()].map(handler => handler.to())
    let count = Math.min(all.length, this.maxPeersPerMessage)
    let answer: PeersMessage = { peers: count < all.length ? sample(all, count) : all }

    // the Message around it: type, timestamp, the payload's tag and length, and a signature
    while (count > 0 && PeersMessage.encode(answer).byteLength > this.maxMessageSize - 160) {
      count = Math.floor(count / 2)
      answer = { peers: answer.peers.slice(0, count) }
    }

    return answer
  }

  checkMessage (pkiID: Uint8Array, msg: Message): Promise<string | undefined> | undefined {
    return this.secure ? checkMessage(this.securityHelper, pkiID, msg, this.maxMessageAge) : undefined
  }

  admitPeer (endpoint: PeerEndpoint, remotePeer: PeerId): Promise<string | undefined> | undefined {
    return this.secure ? this.admitMember(endpoint, remotePeer) : undefined
  }

  async replacementFor (handler: PeerHandler): Promise<void> {
    const pending = [...this.running.keys()].filter(h => h !== handler && h.state === 'created' && h.remotePeer.equals(handler.remotePeer))

    if (pending.length > 0) {
      const settled = Promise.allSettled(pending.map(async h => h.established))
      await raceSignal(settled, AbortSignal.timeout(this.helloTimeout)).catch(() => {})
    }
  }

  private async admitMember (endpoint: PeerEndpoint, remotePeer: PeerId): Promise<string | undefined> {
    if (!(await this.membership.isMember(remotePeer))) {
      return 'not a member of this network'
    }

    if (endpoint.type === PeerEndpoint.Type.VALIDATOR && !this.membership.mayValidate(remotePeer)) {
      return 'not in the validator set'
    }

    return undefined
  }

  admit (handler: PeerHandler): number {
    // a fixed one-second window per chat: a counter and a clock read per
    // message (RateLimiter's keyed store cost ~2% of the chat's CPU in P1)
    const now = Date.now()

    if (now - handler.rateWindowStart >= 1_000) {
      handler.rateWindowStart = now
      handler.rateWindowCount = 0
    }

    if (++handler.rateWindowCount <= this.maxMessagesPerSecond) {
      return 0
    }

    const wait = 1_000 - (now - handler.rateWindowStart)
    // the chat then waits out the window, so this happens at most once per window
    this.log('%p is over its message rate, pausing its chat for %dms', handler.remotePeer, wait)
    this.throttled?.increment()
    return Math.max(1, wait)
  }

  /** 0 if `key` may go on, else ms until its rate window is over */
  private rateLimited (key: string): number {
    try {
      this.rateLimiter.consume(key)
      return 0
    } catch (err: any) {
      if (err.name !== 'RateLimitError') {
        throw err
      }

      return Math.max(1, err.msBeforeNext)
    }
  }

  sendQueueFull (handler: PeerHandler): void {
    if (handler.chat.stalled(this.sendStallTimeout)) {
      this.dropStalled(handler)
    }
  }

  peerRejected (handler: PeerHandler, reason: string): void {
    this.log.error('rejected %p: %s', handler.remotePeer, reason)
    this.metrics?.rejected(reason)
    this.safeDispatchEvent('peer:rejected', { detail: { peerId: handler.remotePeer, reason } })
  }

  // private

  /**
   * Fabric's initDiscovery: the persisted list (with the roles the peer store
   * remembers), then the root nodes. The touch loop's first tick chats with them.
   */
  private async initDiscovery (): Promise<void> {
    const persisted = new Map<string, Multiaddr[]>()

    for (const address of await this.loadDiscoveryList()) {
      try {
        const addr = multiaddr(address)
        const id = peerIdOf(addr)?.toString()

        if (id != null) {
          persisted.set(id, [...(persisted.get(id) ?? []), addr])
        }
      } catch (err: any) {
        this.log('skipping persisted address %s - %s', address, err.message)
      }
    }

    // one peer store read per node for the role it remembers
    for (const [id, addrs] of persisted) {
      const type = await rememberedType(this.components.peerStore, peerIdFromString(id))
      addrs.forEach(addr => this.discovery.addNode(addr, type))
    }

    for (const addr of this.rootNodes) {
      this.discovery.addNode(addr, PeerEndpoint.Type.UNDEFINED, true)
    }

    this.log('discovery starts with %d nodes (%d root nodes)', this.discovery.size, this.rootNodes.length)
  }

  /**
   * A peer with frames waiting and nothing written for sendStallTimeout has
   * stopped reading: report it (peer:overflow, metric) and disconnect it, so it
   * holds no more of our memory and the touch loop may try it afresh.
   */
  private dropStalled (handler: PeerHandler): void {
    this.log('%p has read nothing for %dms with %d frames waiting, disconnecting it', handler.remotePeer, this.sendStallTimeout, handler.chat.queued)
    this.overflows?.increment()
    this.safeDispatchEvent('peer:overflow', { detail: { peerId: handler.remotePeer, queued: handler.chat.queued } })
    void handler.close(`send queue stalled: ${handler.chat.queued} frames unread for over ${this.sendStallTimeout}ms`)
  }

  /** Every discoveryPeriod: ask each chat for its peers, and drop chats that stopped reading */
  private sweep (): void {
    // stalls first: the request below queues a frame for every peer
    const now = Date.now()
    this.earlyAsks = 0

    for (const handler of this.handlers.values()) {
      if (handler.chat.stalled(this.sendStallTimeout, now)) {
        this.dropStalled(handler)
      }
    }

    const ask = createMessage(Message.Type.DISC_GET_PEERS)
    const chats = [...this.handlers.values()]
    const asked = this.discoveryFanout < 0 ? chats : sample(chats, this.discoveryFanout)

    for (const handler of asked) {
      try {
        handler.sendMessage(ask)
      } catch (err: any) {
        this.log('asking %p for its peers failed - %e', handler.remotePeer, err)
      }
    }
  }

  private onInboundChat (stream: Stream, connection: Connection): void {
    if (!this.started) {
      stream.abort(new NotStartedError('fabricPeer is not started'))
      return
    }

    this.runChat(stream, connection.remotePeer)
  }

  private onTransactionStream (stream: Stream, connection: Connection): void {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.transactionTimeout)])
    this.log.trace('transaction stream from %p', connection.remotePeer)
    void serveTransaction(stream, async (tx, options) => {
      // transactions count against the sender's message rate too
      if (this.rateLimited(`tx:${connection.remotePeer}`)) {
        return response(Response.StatusCode.FAILURE, 'too many requests: over maxMessagesPerSecond')
      }

      if (this.secure) {
        const refused = await this.membership.isMember(connection.remotePeer)
          ? await this.transactionGuard.check(tx)
          : 'not a member of this network'

        if (refused != null) {
          return response(Response.StatusCode.FAILURE, refused)
        }
      }

      return this.processTransaction(tx, options)
    }, { maxMessageSize: this.maxMessageSize, signal }, this.log)
      .finally(() => { signal.clear() })
  }

  /** Under security, a transaction we submit unsigned is stamped and signed by us */
  private signed (tx: Transaction): Transaction {
    if (!this.secure || tx.signature.byteLength > 0) {
      return tx
    }

    // stamped, so it passes freshness checks, and signed over the stamp
    return signTransaction(this.securityHelper, { ...tx, timestamp: tx.timestamp ?? timestampNow() })
  }

  private async toEngine (tx: Transaction, signal: AbortSignal): Promise<Response> {
    if (this.engine == null) {
      return response(Response.StatusCode.FAILURE, 'this validator has no engine to process transactions')
    }

    const msg = createMessage(Message.Type.CHAIN_TRANSACTION, Transaction.encode(tx))
    return raceSignal(Promise.resolve(this.engine.processTransactionMessage(msg, tx)), signal)
  }

  private async toValidators (tx: Transaction, signal: AbortSignal): Promise<Response> {
    const validators = [...this.handlers.values()]
      .filter(h => h.to().type === PeerEndpoint.Type.VALIDATOR)
      .map(h => h.remotePeer)
    const failures: string[] = []

    for (const validator of sample(validators, validators.length)) {
      try {
        return await this.sendTransactionToPeer(validator, tx, { signal })
      } catch (err: any) {
        if (signal.aborted) {
          throw err
        }

        failures.push(`${validator}: ${err.message}`)
        this.log('forwarding %s to %p failed, trying another validator - %e', tx.txid, validator, err)
      }
    }

    return response(Response.StatusCode.FAILURE, validators.length === 0
      ? 'no validator is connected to forward the transaction to'
      : `no validator took the transaction: ${failures.join('; ')}`)
  }

  private async dial (peerId: PeerId, target: PeerId | Multiaddr[]): Promise<PeerEndpoint> {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.dialTimeout)])
    let handler: PeerHandler

    try {
      const connection = await this.components.connectionManager.openConnection(target, { signal })
      const stream = await connection.newStream(c.CHAT_PROTOCOL, { signal })
      handler = this.runChat(stream, connection.remotePeer)
    } finally {
      signal.clear()
    }

    // bounded by helloTimeout inside the handler
    await handler.established

    // a simultaneous dial may have kept the peer's stream instead of ours
    const kept = this.handlers.get(peerId.toString())

    if (kept == null) {
      throw new NotEstablishedError(`Chat with ${peerId} closed as soon as it was established: ${handler.closeReason ?? 'unknown reason'}`)
    }

    return kept.to()
  }

  private runChat (stream: Stream, remotePeer: PeerId): PeerHandler {
    const chat = new ChatStream(stream, remotePeer, {
      maxMessageSize: this.maxMessageSize,
      sendQueueSize: this.sendQueueSize,
      sendQueueBytes: this.sendQueueBytes,
      receiveQueueSize: this.receiveQueueSize,
      signer: this.signer,
      counters: this.metrics?.messages
    })
    const handler = new PeerHandler(this, chat, this.log)
    const run = handler.run(this.shutdown.signal).finally(() => this.running.delete(handler))
    this.running.set(handler, run)
    return handler
  }

  /**
   * Of two chats with the same peer, which one stays. Opposite directions (both
   * dialed at once): the stream opened by the peer with the smaller PeerId, so
   * both sides make the same choice. Same direction: the newer one, as the old
   * one is a stale stream the peer has given up on.
   */
  private keepsNew (candidate: PeerHandler, existing: PeerHandler): boolean {
    if (candidate.initiated === existing.initiated) {
      return true
    }

    const localIsSmaller = uint8ArrayCompare(this.components.peerId.toMultihash().bytes, candidate.remotePeer.toMultihash().bytes) < 0
    return candidate.initiated === localIsSmaller
  }

}

/**
 * The longest delay, in ms, a Node timer takes: a longer one fires after 1 ms,
 * so a periodic task would spin
 */
const MAX_DELAY = 2 ** 31 - 1

/** `value`, or `fallback` when not given; `max` bounds a time in ms (MAX_DELAY) */
function positive (name: string, value: number | undefined, fallback: number, max?: number): number {
  if (value == null) {
    return fallback
  }

  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidParametersError(`fabricPeer ${name} must be a positive number, got ${value}`)
  }

  checkMax(name, value, max)
  return value
}

/** A helper must sign synchronously with the node's key: peers verify against its pkiID */
function checkHelper (helper: SecurityHelper, privateKey: FabricPeerComponents['privateKey']): void {
  if (!uint8ArrayEquals(helper.getID(), publicKeyToProtobuf(privateKey.publicKey))) {
    throw new InvalidParametersError('security.helper must sign with the node\'s libp2p key: its getID() is not the node\'s public key')
  }

  let signature: unknown

  try {
    signature = helper.sign(Uint8Array.of(0))
  } catch (err: any) {
    throw new InvalidParametersError(`security.helper cannot sign: ${err.message}`)
  }

  if (!(signature instanceof Uint8Array)) {
    throw new InvalidParametersError('security.helper must sign synchronously (a chat queues messages synchronously)')
  }
}

function nonNegative (name: string, value: number | undefined, fallback: number, max?: number): number {
  if (value == null) {
    return fallback
  }

  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidParametersError(`fabricPeer ${name} must be 0 or more, got ${value}`)
  }

  checkMax(name, value, max)
  return value
}

function checkMax (name: string, value: number, max: number | undefined): void {
  if (max != null && value > max) {
    throw new InvalidParametersError(`fabricPeer ${name} must be at most ${max} (ms, the longest delay a Node timer takes), got ${value}`)
  }
}

/** Root nodes as an array or Fabric's comma-separated string; each must end in /p2p/<PeerId> */
function parseRootNodes (rootNodes: string | string[] | undefined): Multiaddr[] {
  const list = typeof rootNodes === 'string' ? rootNodes.split(',') : rootNodes ?? []

  return list.map(s => s.trim()).filter(s => s !== '').map(s => {
    try {
      return resolveTarget(s).dialTarget as Multiaddr[]
    } catch (err: any) {
      throw new InvalidParametersError(`fabricPeer rootNodes: ${err.message}`)
    }
  }).flat()
}

function resolveTarget (target: ChatTarget): { peerId: PeerId, dialTarget: PeerId | Multiaddr[] } {
  if (typeof target !== 'string' && !isMultiaddr(target) && !Array.isArray(target)) {
    return { peerId: target, dialTarget: target }
  }

  let addrs: Multiaddr[]
  let peerId: PeerId

  try {
    addrs = (Array.isArray(target) ? target : [target]).map(a => typeof a === 'string' ? multiaddr(a) : a)
    const ids = new Set(addrs.map(a => a.getComponents().findLast(c => c.name === 'p2p')?.value))

    if (ids.size !== 1 || ids.has(undefined)) {
      throw new Error('the addresses must all end in the same /p2p/<PeerId>')
    }

    peerId = peerIdFromString([...ids][0] as string)
  } catch (err: any) {
    throw new InvalidParametersError(`Cannot chat with ${String(target)}: ${err.message}`)
  }

  return { peerId, dialTarget: addrs }
}
