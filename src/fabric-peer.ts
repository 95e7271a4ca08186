import { InvalidParametersError, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import { peerGivenAddressProblem } from './addresses.js'
import { MemoryDatastore } from 'datastore-core'
import { TypedEventEmitter } from 'main-event'
import { ChatRegistry } from './chat/chat-registry.js'
import { PeerExchange } from './chat/peer-exchange.js'
import { ConnectionSlots } from './connections/connection-slots.js'
import { CHAT_GRACE, CONNECTION_CHECK_INTERVAL, CONNECTION_RESERVE, DISCOVERY_LIST_KEY, MAX_ADDRESSES_PER_NODE } from './constants.js'
import { Discovery } from './discovery/discovery.js'
import { Libp2pFeed } from './discovery/libp2p-feed.js'
import { DiscoveryListStore, restoreDiscovery } from './discovery/persistence.js'
import { selfEndpoint } from './endpoint.js'
import { resolveInit } from './init.js'
import { FabricMetrics } from './metrics.js'
import { PeerGuard } from './security/peer-guard.js'
import { TouchLoop } from './touch/touch-loop.js'
import { TransactionService } from './transaction/transaction-service.js'
import type { ChatTarget } from './addresses.js'
import type { BroadcastResult, FabricPeerComponents, FabricPeerEvents, FabricPeerInit, FabricUsage, FabricPeer as FabricPeerInterface } from './index.js'
import type { ResolvedInit } from './init.js'
import type { Ledger } from './ledger.js'
import type { RemoteLedger } from './sync/remote-ledger.js'
import type { Message, PeerEndpoint, PeersMessage, Response, Transaction } from './pb/fabric.js'
import type { AbortOptions, Logger, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type Emitter = TypedEventEmitter<FabricPeerEvents>

/**
 * Fabric v0.6's `peer.Impl` as a libp2p service. It owns the lifecycle and the
 * public API, and builds the parts that do the work, the way libp2p's
 * connection manager composes its queues:
 *
 * - {@link ChatRegistry}: the chats, one established per peer, and the
 *   coordinator engines see;
 * - {@link PeerExchange}: DISC_GET_PEERS / DISC_PEERS on the chats;
 * - {@link PeerGuard}: membership, roles, signatures;
 * - {@link TransactionService}: `/fabric/transaction/1.0.0` and forwarding;
 * - {@link Discovery}, {@link DiscoveryListStore}, {@link TouchLoop}: the list,
 *   its persistence, and the loop that dials it;
 * - {@link ConnectionSlots}: chat peers tagged, strangers closed near maxConnections.
 */
export class FabricPeer implements Startable, FabricPeerInterface {
  readonly validator: boolean
  readonly ledger: Ledger
  /** The discovery list: root nodes, the persisted list and what peers told us */
  readonly discovery: Discovery

  private readonly components: FabricPeerComponents
  private readonly init: ResolvedInit
  private readonly log: Logger
  /** Where the service's events are dispatched; listeners are added through the service */
  readonly #events = new TypedEventEmitter<FabricPeerEvents>()
  readonly #chats: ChatRegistry
  readonly #exchange: PeerExchange
  readonly #transactions: TransactionService
  readonly #touch: TouchLoop
  readonly #slots: ConnectionSlots
  readonly #listStore?: DiscoveryListStore
  readonly #feed: Libp2pFeed
  /** Only with a libp2p `metrics` component */
  private readonly metrics?: FabricMetrics
  private started = false

  // the service's events: dispatched by its parts on their own emitter (the
  // parts are #private: nothing a chat calls back into is reachable from here)
  readonly addEventListener: Emitter['addEventListener']
  readonly removeEventListener: Emitter['removeEventListener']
  readonly dispatchEvent: Emitter['dispatchEvent']
  readonly safeDispatchEvent: Emitter['safeDispatchEvent']
  readonly listenerCount: Emitter['listenerCount']

  constructor (components: FabricPeerComponents, init: FabricPeerInit = {}) {
    this.addEventListener = this.#events.addEventListener.bind(this.#events)
    this.removeEventListener = this.#events.removeEventListener.bind(this.#events)
    this.dispatchEvent = this.#events.dispatchEvent.bind(this.#events)
    this.safeDispatchEvent = this.#events.safeDispatchEvent.bind(this.#events)
    this.listenerCount = this.#events.listenerCount.bind(this.#events)
    this.components = components
    this.log = components.logger.forComponent('libp2p:fabric:peer')
    const resolved = this.init = resolveInit(init)
    this.validator = resolved.validator
    this.ledger = resolved.ledger

    if (resolved.persist) {
      this.#listStore = new DiscoveryListStore(components.datastore, {
        key: DISCOVERY_LIST_KEY,
        maxAddresses: resolved.maxDiscoveryEntries * MAX_ADDRESSES_PER_NODE,
        delay: resolved.persistDelay,
        log: components.logger.forComponent('libp2p:fabric:discovery:store'),
        onCorrupt: (message) => { this.#events.safeDispatchEvent('warning', { detail: { message } }) }
      })
    }

    const canDial = components.transportManager == null ? undefined : (addr: Multiaddr) => components.transportManager?.dialTransportForMultiaddr(addr) != null

    this.discovery = new Discovery(components, {
      maxEntries: resolved.maxDiscoveryEntries,
      backoffInitial: resolved.dialBackoffInitial,
      backoffMax: resolved.dialBackoffMax,
      ownAddresses: () => components.addressManager.getAddresses(),
      canDial,
      log: components.logger.forComponent('libp2p:fabric:discovery'),
      onChange: () => { this.#listStore?.schedule(() => this.discovery.addresses()) }
    })

    this.metrics = components.metrics == null
      ? undefined
      : new FabricMetrics(components.metrics, {
        chatRoles: () => this.#chats.sessions().map(session => session.to().type),
        discoverySize: () => this.discovery.size
      })

    const guard = new PeerGuard(components, resolved.security)

    this.#exchange = new PeerExchange({
      ...resolved,
      discovery: this.discovery,
      chats: () => this.#chats.sessions(),
      // new nodes: the touch loop runs soon instead of at its next period
      onLearned: () => { this.#touch.nudge() },
      log: this.log
    })

    this.#chats = new ChatRegistry(components, {
      ...resolved,
      guard,
      exchange: this.#exchange,
      discovery: this.discovery,
      events: this.#events,
      metrics: this.metrics,
      localEndpoint: () => this.getPeerEndpoint()
    })

    this.#transactions = new TransactionService(components, { ...resolved, guard, chats: this.#chats })

    this.#touch = new TouchLoop({
      peerId: components.peerId,
      discovery: this.discovery,
      established: () => this.#chats.sessions().map(session => ({ peerId: session.remotePeer, type: session.to().type })),
      isEstablished: (peerId) => this.#chats.isEstablished(peerId),
      dial: async (node, addresses, options) => {
        this.metrics?.touchDialed()

        try {
          // checked again when dialed: a restored address may be one of ours
          // (the node was not listening yet when it was restored)
          const own = components.addressManager.getAddresses()
          const dialable = node.root ? addresses : addresses.filter(a => peerGivenAddressProblem(a, own, canDial) == null)

          if (dialable.length === 0) {
            throw new InvalidParametersError(`none of ${node.peerId}'s addresses is one to dial`)
          }

          return await this.chatWithPeer(dialable, options)
        } catch (err) {
          if (options.signal?.aborted !== true) {
            this.metrics?.touchDialFailed()
          }

          throw err
        }
      }
    }, {
      ...resolved,
      concurrency: resolved.touchConcurrency,
      log: components.logger.forComponent('libp2p:fabric:touch'),
      onTick: (tick) => { this.#events.safeDispatchEvent('touch', { detail: tick }) }
    })

    this.#feed = new Libp2pFeed(components, {
      discovery: this.discovery,
      log: components.logger.forComponent('libp2p:fabric:discovery:libp2p'),
      onLearned: () => { this.#touch.nudge() }
    })

    this.#slots = new ConnectionSlots(components, {
      events: this.#events,
      isEstablished: (peerId) => this.#chats.isEstablished(peerId),
      chatGrace: CHAT_GRACE,
      reserve: CONNECTION_RESERVE,
      checkInterval: CONNECTION_CHECK_INTERVAL
    })
  }

  readonly [Symbol.toStringTag] = 'libp2p-fabric-peer'

  readonly [serviceCapabilities]: string[] = ['@hyperledger/fabric-peer']

  /** libp2p registers a service with this as a peer discovery: it emits `peer` for every node in the list */
  get [peerDiscoverySymbol] (): Discovery {
    return this.discovery
  }

  async start (): Promise<void> {
    this.#slots.start()
    await this.#chats.start()
    await this.#transactions.start()
    this.#listStore?.open()

    if (this.#listStore != null && (this.components.datastore instanceof MemoryDatastore || this.components.datastore?.constructor?.name === 'MemoryDatastore')) {
      // libp2p's default datastore: the list is "persisted" to memory and lost at exit
      const message = 'persist is on, but the node\'s datastore is in memory (libp2p\'s default): the discovery list will not survive a restart; give createLibp2p a datastore (datastore-level) or set persist: false'
      this.log.error(message)
      this.#events.safeDispatchEvent('warning', { detail: { message } })
    }

    await restoreDiscovery(this.discovery, this.components.peerStore, this.#listStore == null ? undefined : await this.loadDiscoveryList(), this.init.rootNodes, this.log)
    await this.init.engine?.start?.(this)
    this.started = true
    this.#chats.open()
    this.#exchange.start()
    this.#feed.start()
  }

  /** The touch loop starts once libp2p listens, so our hellos carry a dialable address */
  afterStart (): void {
    this.#touch.start()
  }

  /**
   * libp2p calls this on every component before stopping any, so connections
   * are still up: each peer is told why we go (DISC_DISCONNECT) and the chats
   * close gracefully, each bounded by CLOSE_TIMEOUT.
   */
  async beforeStop (): Promise<void> {
    this.started = false
    this.#feed.stop()
    this.#exchange.stop()
    this.#touch.stop()
    await this.init.engine?.stop?.()
    await this.#transactions.beforeStop()
    await this.#chats.beforeStop()
    // write a pending change now; nothing is written after this
    await this.#listStore?.close()
    await this.discovery.flush()
  }

  async stop (): Promise<void> {
    if (this.started) {
      // stopped on its own rather than by libp2p
      await this.beforeStop()
    }

    this.#transactions.stop()
    await this.#chats.stop()
    await this.#slots.stop()
  }

  isStarted (): boolean {
    return this.started
  }

  getPeerEndpoint (): PeerEndpoint {
    const { peerId, privateKey, addressManager } = this.components
    return selfEndpoint(peerId, privateKey.publicKey, addressManager.getAddresses(), this.validator, this.init.address)
  }

  getPeers (): PeersMessage {
    return this.#chats.getPeers()
  }

  /** Write the discovery list to the datastore now (it is also written after every change, and at stop) */
  async storeDiscoveryList (): Promise<void> {
    this.#listStore?.schedule(() => this.discovery.addresses())
    await this.#listStore?.flush()
  }

  /** The addresses in the persisted discovery list ([] with `persist: false`) */
  async loadDiscoveryList (): Promise<string[]> {
    return await this.#listStore?.load() ?? []
  }

  usage (): FabricUsage {
    return { ...this.#chats.usage(), transactionBytes: this.#transactions.requestBytes }
  }

  isEstablished (peer: PeerId): boolean {
    return this.#chats.isEstablished(peer)
  }

  async chatWithPeer (target: ChatTarget, options: AbortOptions = {}): Promise<PeerEndpoint> {
    return this.#chats.chatWithPeer(target, options)
  }

  broadcast (msg: Message, type?: PeerEndpoint.Type): BroadcastResult {
    return this.#chats.broadcast(msg, type)
  }

  unicast (msg: Message, peer: PeerId): void {
    this.#chats.unicast(msg, peer)
  }

  getRemoteLedger (peer: PeerId): RemoteLedger {
    return this.#chats.getRemoteLedger(peer)
  }

  async onDrain (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.#chats.onDrain(peer, options)
  }

  async flush (peer: PeerId, options: AbortOptions = {}): Promise<void> {
    await this.#chats.flush(peer, options)
  }

  async processTransaction (tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    return this.#transactions.processTransaction(tx, options)
  }

  async sendTransactionToPeer (peer: PeerId, tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    return this.#transactions.sendTransactionToPeer(peer, tx, options)
  }
}
