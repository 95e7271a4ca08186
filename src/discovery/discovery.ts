import { InvalidParametersError, peerDiscoverySymbol } from '@libp2p/interface'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { peerGivenAddressProblem, peerIdOf } from '../addresses.js'
import { DIAL_BACKOFF_INITIAL, DIAL_BACKOFF_MAX, DISCOVERY_STATE_METADATA, DISCOVERY_TAG, DISCOVERY_TAG_VALUE, GOSSIP_BOGUS_COST, GOSSIP_FAILED_COST, GOSSIP_PENALTY_TTL, GOSSIP_PERIOD, GOSSIP_PERIOD_MIN, GOSSIP_SHARE, GOSSIP_SHARE_MIN, MAX_ADDRESSES_PER_NODE, PEER_TYPE_METADATA } from '../constants.js'
import { PeerEndpoint } from '../pb/fabric.js'
import type { Logger, PeerData, PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerStore } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A node in the discovery list. Only {@link Discovery} changes it: what is
 * learned of the node through its methods, the outcome of dials through
 * `dialSucceeded`/`dialFailed`, chats through `seen`.
 */
export interface DiscoveryNode {
  readonly peerId: PeerId
  /** Dialable addresses, each ending in `/p2p/<peerId>`, at most MAX_ADDRESSES_PER_NODE */
  readonly addresses: readonly Multiaddr[]
  /** Addresses gossip never evicts: a root node's configured address, the address in the node's own hello */
  readonly pinned: ReadonlySet<string>
  /** VALIDATOR or NON_VALIDATOR once known, else UNDEFINED */
  readonly type: PeerEndpoint.Type
  /** The role came from the node's own hello or from the user: gossip cannot change it */
  readonly typeConfirmed: boolean
  /** A configured root node: never expires, always admitted */
  readonly root: boolean
  /** When it entered the list (ms) */
  readonly addedAt: number
  /** We have had a chat with it */
  readonly connected: boolean
  /** Last time we had a chat with it, heard of it from a peer (while it was not failing), or added it (ms) */
  readonly lastSeen: number
  /** Dial failures since the last success */
  readonly failures: number
  /** Not to be dialed before this time (ms): the backoff after a failure */
  readonly nextDialAt: number
  /** Only gossip vouches for it: the PeerId of the peer that named it (its dials are paced, a bogus one costs that peer) */
  readonly learnedFrom?: string
}

/** A node's state as the peer store keeps it (metadata DISCOVERY_STATE_METADATA, JSON) */
export interface StoredNodeState {
  /** Its addresses, each with `/p2p/<id>`: the peer store forgets addresses it has not seen for an hour, we do not */
  addresses: string[]
  pinned: string[]
  typeConfirmed: boolean
  connected: boolean
  addedAt: number
  lastSeen: number
  failures: number
  nextDialAt: number
  learnedFrom?: string
}

/** The node as Discovery keeps it */
interface Node {
  readonly peerId: PeerId
  /** The peer whose gossip brought it in, until it is confirmed (its hello, a root node, the user): counted against that peer's share */
  learnedFrom?: string
  addresses: Multiaddr[]
  readonly pinned: Set<string>
  type: PeerEndpoint.Type
  typeConfirmed: boolean
  root: boolean
  readonly addedAt: number
  connected: boolean
  lastSeen: number
  failures: number
  nextDialAt: number
  /** For a gossip-only node: the peer whose gossip gave each address (a failed dial there is charged to it), by address */
  addressFrom?: Map<string, string>
  /** Addresses whose failed dial was already charged: once an address */
  charged?: Set<string>
  /** lastSeen as last written to the peer store */
  storedLastSeen?: number
}

/** Something that names a node: a multiaddr ending in `/p2p/<id>`, a PeerId, or its string */
export type NodeRef = string | Multiaddr | PeerId

export interface DiscoveryComponents {
  peerId: PeerId
  peerStore: PeerStore
}

export interface DiscoveryInit {
  /** Most nodes the list holds */
  maxEntries: number
  /** This node's own addresses: a peer naming one of them for a node is not believed */
  ownAddresses?(): Multiaddr[]
  /** Whether one of the node's transports dials an address (peers' addresses it cannot dial are not taken) */
  canDial?(addr: Multiaddr): boolean
  /** The wait after a node's first failed dial, doubled per failure in a row (default DIAL_BACKOFF_INITIAL) */
  backoffInitial?: number
  /** The longest wait between dials of a failing node (default DIAL_BACKOFF_MAX) */
  backoffMax?: number
  log: Logger
  /** Called when the list's membership, pinned addresses or roles change */
  onChange?(): void
}

/**
 * Where a node came from: the user (addNode), the root node list, its own
 * hello, libp2p (the node's peer discovery or identify said it speaks the chat
 * protocol), a peer's gossip, or the peer store at start
 */
type Source = 'user' | 'root' | 'hello' | 'libp2p' | 'gossip'

/**
 * Fabric v0.6's discovery list (`DiscoveryImpl`), keyed by PeerId and made
 * correct: removed nodes are gone (not tombstoned), random picks never block,
 * the list is bounded, and we are never in it.
 *
 * What a node says of itself in its hello (its role, its address) and what the
 * user configured (root nodes) outranks what other peers gossip in DISC_PEERS:
 * gossip cannot change a confirmed role, evict a pinned address, or keep a
 * full list from admitting a root node or a peer that said hello.
 *
 * Nodes are tagged in the libp2p peer store (so the connection pruner ranks
 * them high) with their role as metadata, and announced as a libp2p
 * `PeerDiscovery`, which also puts their addresses in the peer store.
 */
export class Discovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private readonly components: DiscoveryComponents
  private readonly init: DiscoveryInit
  private readonly nodes = new Map<string, Node>()
  /** Gossiped nodes in the list, by the peer whose gossip brought them in */
  private readonly learned = new Map<string, number>()
  /** The most nodes one peer's gossip may have in the list: GOSSIP_SHARE of it */
  private readonly gossipShare: number
  /** New gossiped nodes per source in the current GOSSIP_PERIOD: [window start, count] */
  private readonly gossipWindows = new Map<string, [number, number]>()
  /** What bogus gossip has cost each source, in share entries: [cost, time of the last] */
  private readonly penalties = new Map<string, [number, number]>()
  /** Addresses (with /p2p/) a dial proved bogus, until when gossip may not bring them back (swept oldest first) */
  private readonly bogus = new Map<string, number>()
  /** The most new nodes one peer's gossip may add per GOSSIP_PERIOD */
  private readonly gossipPerPeriod: number
  /** At most one pending peer store write per peer, the latest state wins */
  private readonly storeQueue = new Map<string, { peerId: PeerId, data: PeerData }>()
  private storeWorker?: Promise<void>

  constructor (components: DiscoveryComponents, init: DiscoveryInit) {
    super()
    this.components = components
    this.init = init
    this.gossipShare = Math.max(GOSSIP_SHARE_MIN, Math.floor(init.maxEntries * GOSSIP_SHARE))
    this.gossipPerPeriod = Math.max(GOSSIP_PERIOD_MIN, Math.floor(this.gossipShare / 4))
  }

  readonly [peerDiscoverySymbol] = this

  readonly [Symbol.toStringTag] = 'libp2p-fabric-peer:discovery'

  /** Number of nodes in the list */
  get size (): number {
    return this.nodes.size
  }

  /**
   * Add a node by its multiaddr (which must end in `/p2p/<PeerId>`), merging the
   * address into what is known of it. A root node's address is pinned.
   *
   * @returns true if the node is in the list afterwards; false for ourselves or when the list is full
   * @throws {InvalidParametersError} for an address that is not a multiaddr or has no `/p2p/`; the list is unchanged
   */
  addNode (address: string | Multiaddr, type: PeerEndpoint.Type = PeerEndpoint.Type.UNDEFINED, root = false): boolean {
    const addr = toMultiaddr(address)
    const peerId = peerIdOf(addr)

    if (peerId == null) {
      throw new InvalidParametersError(`Discovery address ${addr.toString()} does not end in /p2p/<PeerId>`)
    }

    return this.add(peerId, addr, type, root ? 'root' : 'user')
  }

  /**
   * Add an endpoint from the node's own hello (`confirmed`) or from a peer's
   * DISC_PEERS. Invalid endpoints are refused, not thrown: they come from the network.
   *
   * @returns true if it is in the list afterwards
   */
  addEndpoint (endpoint: PeerEndpoint, confirmed = false, from?: PeerId): boolean {
    if (endpoint.address === '' || !isKnownType(endpoint.type)) {
      return false
    }

    // most gossip repeats what we know: skip parsing it (in a forming 64-node
    // mesh that parsing was a core's worth of CPU)
    const known = endpoint.ID == null ? undefined : this.nodes.get(endpoint.ID.name)

    if (!confirmed && known != null && (known.type === endpoint.type || known.typeConfirmed) && known.addresses.some(a => a.toString() === endpoint.address)) {
      if (known.failures === 0) {
        known.lastSeen = Date.now()
      }

      return true
    }

    try {
      const addr = multiaddr(endpoint.address)
      const peerId = peerIdOf(addr)

      if (peerId == null || peerId.toString() !== endpoint.ID?.name) {
        return false
      }

      const problem = peerGivenAddressProblem(addr, this.init.ownAddresses?.(), this.init.canDial)

      if (problem != null) {
        this.init.log('not adding %p from %s: %s', peerId, confirmed ? 'its hello' : 'gossip', problem)
        return false
      }

      return this.add(peerId, addr, endpoint.type, confirmed ? 'hello' : 'gossip', from?.toString())
    } catch {
      return false
    }
  }

  /**
   * Add a peer that libp2p says speaks the chat protocol (identify's protocol
   * list, or the peer store's for a peer the node's peer discovery reported),
   * with the addresses it gave: those the node cannot dial, or its own, are
   * left out. Its role stays unknown until its hello. With `from` (a peer that
   * connected to us: identify is then only its word) it is held to the same
   * rules as gossip from `from`: a share, a count per period, paced dials, the
   * cost of bogus addresses. Without (a connection we opened: the user's
   * dial, `@libp2p/bootstrap`), it is confirmed, and like a hello admitted to
   * a full list in place of a node only gossip vouches for.
   *
   * @returns true if it is in the list afterwards
   */
  addDiscovered (peerId: PeerId, addresses: Multiaddr[], from?: string): boolean {
    const suffix = `/p2p/${peerId.toString()}`
    let added = false

    for (const address of addresses) {
      try {
        const addr = peerIdOf(address) == null ? address.encapsulate(suffix) : address

        if (peerIdOf(addr)?.equals(peerId) !== true) {
          continue
        }

        const problem = peerGivenAddressProblem(addr, this.init.ownAddresses?.(), this.init.canDial)

        if (problem != null) {
          this.init.log.trace('not taking %a for %p: %s', addr, peerId, problem)
          continue
        }

        added = this.add(peerId, addr, PeerEndpoint.Type.UNDEFINED, from == null ? 'libp2p' : 'gossip', from) || added
      } catch {
        // an address we cannot parse or extend: skip it
      }
    }

    return added
  }

  /**
   * A node as the peer store kept it (at start): its role, addresses and
   * state. Its last-seen time starts again now (the node's own downtime is not
   * the peers' fault); failures and the backoff carry on. Root flags do not:
   * the configured root nodes are added after this.
   *
   * @returns true if it is in the list afterwards
   */
  restore (peerId: PeerId, type: PeerEndpoint.Type, state: StoredNodeState): boolean {
    const addresses: Multiaddr[] = []
    const seen = new Set<string>()
    const pinned = new Set(state.pinned)

    // the pinned ones (its hello's, a root node's) first, then the rest; each
    // checked again as a peer-given address: the store is ours, but what it
    // holds came from peers
    for (const address of [...state.pinned, ...state.addresses]) {
      if (seen.has(address) || addresses.length >= MAX_ADDRESSES_PER_NODE) {
        continue
      }

      seen.add(address)

      try {
        const addr = multiaddr(address)

        if (peerIdOf(addr)?.equals(peerId) === true && peerGivenAddressProblem(addr, this.init.ownAddresses?.(), this.init.canDial) == null) {
          addresses.push(addr)
        }
      } catch {
        // a damaged address: the others still serve
      }
    }

    if (addresses.length === 0 || peerId.equals(this.components.peerId) || this.nodes.has(peerId.toString()) || this.nodes.size >= this.init.maxEntries) {
      return this.nodes.has(peerId.toString())
    }

    const now = Date.now()
    const node: Node = {
      peerId,
      addresses,
      pinned: new Set(addresses.map(a => a.toString()).filter(a => pinned.has(a))),
      type: isKnownType(type) ? type : PeerEndpoint.Type.UNDEFINED,
      typeConfirmed: state.typeConfirmed && isKnownType(type),
      root: false,
      addedAt: Math.min(now, finite(state.addedAt, now)),
      connected: state.connected,
      lastSeen: now,
      failures: Math.max(0, Math.floor(finite(state.failures, 0))),
      nextDialAt: Math.min(finite(state.nextDialAt, 0), now + (this.init.backoffMax ?? DIAL_BACKOFF_MAX)),
      learnedFrom: typeof state.learnedFrom === 'string' ? state.learnedFrom : undefined
    }

    if (node.learnedFrom != null && (this.learned.get(node.learnedFrom) ?? 0) >= this.gossipAllowance(node.learnedFrom)) {
      return false
    }

    this.credit(node, 1)
    this.nodes.set(peerId.toString(), node)
    this.init.onChange?.()
    this.safeDispatchEvent('peer', { detail: { id: peerId, multiaddrs: transportAddresses(node) } })
    return true
  }

  /**
   * Remove a node. v0.6 only marked it invalid; here it is gone, and untagged in the peer store.
   *
   * @returns true if it was in the list
   */
  removeNode (ref: NodeRef): boolean {
    const node = this.find(ref)

    if (node == null) {
      return false
    }

    this.delete(node)
    this.init.onChange?.()
    return true
  }

  /** Whether a node is in the list */
  findNode (ref: NodeRef): boolean {
    return this.get(ref) != null
  }

  /** The first address of every node in the list */
  getAllNodes (): string[] {
    return [...this.nodes.values()].map(n => n.addresses[0].toString())
  }

  /**
   * `min(n, size)` distinct nodes, uniformly at random (a partial Fisher-Yates
   * shuffle: O(size), never loops, never returns a removed node).
   */
  getRandomNodes (n: number): string[] {
    return sample([...this.nodes.values()], n).map(node => node.addresses[0].toString())
  }

  /** The node's entry */
  get (ref: NodeRef): DiscoveryNode | undefined {
    return this.find(ref)
  }

  /** A chat with the node is established: it is alive */
  seen (ref: NodeRef, now = Date.now()): void {
    const node = this.find(ref)

    if (node != null) {
      node.lastSeen = now

      // the peer store learns it now and then, not on every touch tick
      if (now - (node.storedLastSeen ?? 0) > STORED_LAST_SEEN_STEP) {
        this.writePeerStore(node)
      }
    }
  }

  /** A dial of the node worked: no backoff */
  dialSucceeded (ref: NodeRef): void {
    const node = this.find(ref)

    if (node != null && (node.failures > 0 || node.nextDialAt > 0)) {
      node.failures = 0
      node.nextDialAt = 0
      this.writePeerStore(node)
    }
  }

  /**
   * A dial of the node failed: it is not dialed again for an exponentially
   * growing, jittered time (backoffInitial x 2^(failures-1) x 0.5-1.5, at most
   * backoffMax).
   *
   * A node only gossip vouched for costs the peer that gave the address
   * dialed (once an address): GOSSIP_BOGUS_COST entries of its share when the
   * dial proves the address bogus (`err` says nothing listens, another peer
   * answered, or no chat protocol), GOSSIP_FAILED_COST for any other failure.
   * Another peer answering or no chat protocol also removes the address (the
   * node with its last one).
   *
   * @returns ms until it is due again (0 when it is not, or no longer, in the list)
   */
  dialFailed (ref: NodeRef, err?: unknown, address?: Multiaddr): number {
    const node = this.find(ref)

    if (node == null) {
      return 0
    }

    if (node.learnedFrom != null) {
      const bogus = isBogusDial(err)
      const key = (address ?? node.addresses[0]).toString()
      // the peer whose gossip gave the address dialed pays for it
      const from = node.addressFrom?.get(key) ?? node.learnedFrom

      if (!(node.charged?.has(key) ?? false)) {
        (node.charged ??= new Set()).add(key)
        this.penalize(from, bogus ? GOSSIP_BOGUS_COST : GOSSIP_FAILED_COST)

        if (this.nodes.get(node.peerId.toString()) !== node) {
          // the charge dropped it with the rest of that peer's nodes
          return 0
        }

        if (bogus) {
          this.init.log('gossip from %s gave %p the address %s, and a dial says it is bogus', from, node.peerId, key)
        }

        if (isWrongPeer(err) || isNoChat(err)) {
          // not the peer, or not a fabric peer: the address goes, and gossip
          // naming it again is not taken for GOSSIP_PENALTY_TTL, so it cannot
          // be charged again and again. Nothing listening (a node restarting,
          // perhaps) keeps it, on backoff: charged once an address
          this.remember(key, GOSSIP_PENALTY_TTL)

          if (node.addresses.length > 1) {
            // the address goes, the node stays: other peers gave the others
            node.addresses = node.addresses.filter(a => a.toString() !== key)
            node.addressFrom?.delete(key)
            this.writePeerStore(node)
            this.init.onChange?.()
          } else {
            this.delete(node)
            this.init.onChange?.()
            return 0
          }
        }
      }
    }

    if (!node.root && node.learnedFrom == null && isWrongPeer(err)) {
      // another peer answers where it said it listens (its hello, the user):
      // redialing would only knock on that other peer's door. If it chats
      // with us again, its new hello brings it back
      this.init.log('%p: another peer answers at its addresses, removing it', node.peerId)
      this.delete(node)
      this.init.onChange?.()
      return 0
    }

    node.failures++
    const initial = this.init.backoffInitial ?? DIAL_BACKOFF_INITIAL
    const jittered = initial * 2 ** (node.failures - 1) * (0.5 + Math.random())
    const wait = Math.round(Math.min(this.init.backoffMax ?? DIAL_BACKOFF_MAX, jittered))
    node.nextDialAt = Date.now() + wait
    this.writePeerStore(node)
    return wait
  }

  /** What bogus gossip has cost a peer, in entries of its share (0 once GOSSIP_PENALTY_TTL has passed since the last) */
  gossipPenalty (peer: PeerId | string, now = Date.now()): number {
    const key = peer.toString()
    const penalty = this.penalties.get(key)

    if (penalty == null) {
      return 0
    }

    if (now - penalty[1] > GOSSIP_PENALTY_TTL) {
      this.penalties.delete(key)
      return 0
    }

    return penalty[0]
  }

  /** How many gossiped nodes a peer may have in the list now: its share less what its bogus gossip cost */
  gossipAllowance (peer: PeerId | string): number {
    return Math.max(0, this.gossipShare - this.gossipPenalty(peer))
  }

  private penalize (from: string, cost: number): void {
    const now = Date.now()
    const total = this.gossipPenalty(from, now) + cost
    this.penalties.set(from, [total, now])

    if (this.penalties.size > MAX_TRACKED_SOURCES) {
      for (const [key, [, last]] of this.penalties) {
        if (now - last > GOSSIP_PENALTY_TTL) this.penalties.delete(key)
      }
    }

    if (total >= this.gossipShare && (this.learned.get(from) ?? 0) > 0) {
      // its gossip has cost its whole share: what else it named goes too
      let dropped = 0

      for (const node of [...this.nodes.values()]) {
        if (node.learnedFrom === from) {
          this.delete(node)
          dropped++
        }
      }

      this.init.log('gossip from %s proved bogus %d times: dropped the %d other nodes it named', from, total, dropped)
      this.init.onChange?.()
    }
  }

  /** Whether a dial proved the address (with its /p2p/) bogus lately */
  private isBogus (key: string, now: number): boolean {
    const until = this.bogus.get(key)

    if (until != null && until <= now) {
      this.bogus.delete(key)
      return false
    }

    return until != null
  }

  private remember (key: string, ttl: number): void {
    const now = Date.now()
    this.bogus.delete(key)
    this.bogus.set(key, now + ttl)

    // oldest first: expired ones, then, past the bound, the oldest anyway
    for (const [k, until] of this.bogus) {
      if (until > now && this.bogus.size <= MAX_TRACKED_SOURCES) break
      this.bogus.delete(k)
    }
  }

  /** Whether a source may add one more new node by gossip now (its share, less penalties, and its count this period) */
  private gossipAdmits (from: string, now: number): boolean {
    if ((this.learned.get(from) ?? 0) >= this.gossipAllowance(from)) {
      return false
    }

    const window = this.gossipWindows.get(from)

    if (window == null || now - window[0] >= GOSSIP_PERIOD) {
      if (this.gossipWindows.size > MAX_TRACKED_SOURCES) {
        for (const [key, [start]] of this.gossipWindows) {
          if (now - start >= GOSSIP_PERIOD) this.gossipWindows.delete(key)
        }
      }

      this.gossipWindows.set(from, [now, 1])
      return true
    }

    if (window[1] >= this.gossipPerPeriod) {
      return false
    }

    window[1]++
    return true
  }

  /** New nodes one peer's gossip may add per GOSSIP_PERIOD */
  get gossipRate (): number {
    return this.gossipPerPeriod
  }

  private find (ref: NodeRef): Node | undefined {
    const key = keyOf(ref)
    return key == null ? undefined : this.nodes.get(key)
  }

  /** Every node, for the touch loop */
  values (): IterableIterator<DiscoveryNode> {
    return this.nodes.values()
  }

  /** Every address of every node, for persistence */
  addresses (): string[] {
    return [...this.nodes.values()].flatMap(n => n.addresses.map(a => a.toString()))
  }

  /** Wait for pending peer store writes */
  async flush (): Promise<void> {
    await this.storeWorker
  }

  private add (peerId: PeerId, addr: Multiaddr, type: PeerEndpoint.Type, source: Source, from?: string): boolean {
    if (peerId.equals(this.components.peerId)) {
      return false
    }

    const now = Date.now()
    const node = this.nodes.get(peerId.toString())

    if (node == null) {
      if (source === 'gossip' && this.isBogus(addr.toString(), now)) {
        // proven bogus: another peer naming it again costs nobody and dials nothing
        return false
      }

      if (source === 'gossip' && from != null && !this.gossipAdmits(from, now)) {
        // no single peer's gossip owns the list, or fills it fast
        this.init.log.trace('%s is at its gossip share (%d nodes, %d a period): not adding %p', from, this.gossipAllowance(from), this.gossipPerPeriod, peerId)
        return false
      }

      if (this.nodes.size >= this.init.maxEntries && !this.evictForNewcomer(source)) {
        this.init.log('discovery list is full (%d nodes), not adding %p', this.init.maxEntries, peerId)
        return false
      }

      const fresh: Node = {
        peerId,
        addresses: [addr],
        pinned: new Set(source === 'root' || source === 'hello' ? [addr.toString()] : []),
        type,
        typeConfirmed: source === 'hello' || (source === 'user' && isKnownType(type)),
        root: source === 'root',
        addedAt: now,
        connected: source === 'hello',
        lastSeen: now,
        failures: 0,
        nextDialAt: 0,
        learnedFrom: source === 'gossip' ? from : undefined
      }
      this.credit(fresh, 1)
      this.nodes.set(peerId.toString(), fresh)
      this.writePeerStore(fresh)
      this.init.onChange?.()
      this.safeDispatchEvent('peer', { detail: { id: peerId, multiaddrs: transportAddresses(fresh) } })
      return true
    }

    let changed = false

    if (source === 'gossip') {
      return this.gossipAbout(node, addr, type, from, now)
    }

    if (node.learnedFrom != null) {
      // confirmed by itself, a root list, the user or libp2p: no longer the gossiper's
      this.credit(node, -1)
      node.learnedFrom = undefined
      node.addressFrom = undefined
      node.charged = undefined
      changed = true
    }

    if (source === 'hello') {
      this.bogus.delete(addr.toString())
      changed ||= !node.typeConfirmed || node.type !== type || !node.connected
      node.connected = true
      node.typeConfirmed = true
    } else if (source === 'user' && isKnownType(type) && !node.typeConfirmed) {
      // the operator says so: gossip cannot change it either
      node.typeConfirmed = true
      changed = true
    }

    if (source === 'root') {
      node.root = true
    }

    node.lastSeen = now

    if (type !== PeerEndpoint.Type.UNDEFINED && type !== node.type) {
      node.type = type
      changed = true
    }

    const key = addr.toString()

    if ((source === 'root' || source === 'hello') && !node.pinned.has(key)) {
      node.pinned.add(key)
      changed = true
    }

    if (!node.addresses.some(a => a.equals(addr))) {
      node.addresses.push(addr)
      // a new address (a node restarted on another port) is worth a dial now,
      // whatever the old ones' backoff says; the touch loop's caps still apply
      node.nextDialAt = 0
      changed = true

      if (node.addresses.length > MAX_ADDRESSES_PER_NODE) {
        // evict the oldest address nobody pinned; if all are pinned, the newest unpinned one
        const oldest = node.addresses.findIndex(a => !node.pinned.has(a.toString()))
        node.addresses.splice(oldest, 1)
      }
    }

    if (changed) {
      this.writePeerStore(node)
      this.init.onChange?.()
    }

    return true
  }

  /**
   * Gossip about a node already in the list. It keeps the node alive (unless
   * it keeps failing) and may fill in the role of a node only gossip vouches
   * for. It adds an address only to a node only gossip vouches for (a node
   * restarted on another port is learned this way), and only from a peer
   * whose bogus gossip has not cost it its share; a dial of that address that
   * fails is charged to that peer, not to the one that named the node, and the
   * new address is worth a dial now. A node that confirmed its addresses (its
   * hello, a root node, the user) takes none from gossip.
   */
  private gossipAbout (node: Node, addr: Multiaddr, type: PeerEndpoint.Type, from: string | undefined, now: number): boolean {
    let changed = false

    if (node.failures === 0) {
      node.lastSeen = now
    }

    if (node.learnedFrom != null && node.type === PeerEndpoint.Type.UNDEFINED && isKnownType(type)) {
      node.type = type
      changed = true
    }

    if (from != null && node.learnedFrom != null && !node.addresses.some(a => a.equals(addr)) && this.gossipAllowance(from) > 0 && !this.isBogus(addr.toString(), now)) {
      node.addresses.push(addr)
      const key = addr.toString()

      if (from !== node.learnedFrom) {
        (node.addressFrom ??= new Map()).set(key, from)
      }

      node.nextDialAt = 0
      changed = true

      if (node.addresses.length > MAX_ADDRESSES_PER_NODE) {
        const [evicted] = node.addresses.splice(node.addresses.findIndex(a => !node.pinned.has(a.toString())), 1)
        node.addressFrom?.delete(evicted.toString())
        node.charged?.delete(evicted.toString())
      }
    }

    if (changed) {
      this.writePeerStore(node)
      this.init.onChange?.()
    }

    return true
  }

  /**
   * A full list still admits a root node or a peer that said hello, in place of
   * a node only gossip vouches for that we never reached (the most failed,
   * then the least recently heard of). Gossip never evicts anything.
   */
  private evictForNewcomer (source: Source): boolean {
    if (source !== 'root' && source !== 'hello' && source !== 'libp2p') {
      return false
    }

    let victim: Node | undefined

    for (const node of this.nodes.values()) {
      if (node.root || node.connected || node.typeConfirmed) {
        continue
      }

      if (victim == null || node.failures > victim.failures || (node.failures === victim.failures && node.lastSeen < victim.lastSeen)) {
        victim = node
      }
    }

    if (victim != null) {
      this.init.log('discovery list is full: a %s node replaces %p', source, victim.peerId)
      this.delete(victim)
    }

    return victim != null
  }

  /** Count a node for or against the peer whose gossip brought it in */
  private credit (node: Node, by: 1 | -1): void {
    if (node.learnedFrom == null) return
    const count = (this.learned.get(node.learnedFrom) ?? 0) + by
    if (count <= 0) this.learned.delete(node.learnedFrom)
    else this.learned.set(node.learnedFrom, count)
  }

  /** Nodes in the list that a peer's gossip brought in (and nobody confirmed since) */
  learnedFromPeer (peer: PeerId): number {
    return this.learned.get(peer.toString()) ?? 0
  }

  private delete (node: Node): void {
    this.credit(node, -1)
    this.nodes.delete(node.peerId.toString())
    this.queueStoreWrite(node.peerId, { tags: { [DISCOVERY_TAG]: undefined }, metadata: { [DISCOVERY_STATE_METADATA]: undefined } })
  }

  /**
   * The peer store holds the node: tagged, its role, its addresses, and its
   * state (StoredNodeState), so the node's datastore keeps the list across
   * restarts. Writes are queued, one per peer, the latest state wins.
   */
  private writePeerStore (node: Node): void {
    node.storedLastSeen = node.lastSeen
    const state: StoredNodeState = {
      addresses: node.addresses.map(a => a.toString()),
      pinned: [...node.pinned],
      typeConfirmed: node.typeConfirmed,
      connected: node.connected,
      addedAt: node.addedAt,
      lastSeen: node.lastSeen,
      failures: node.failures,
      nextDialAt: node.nextDialAt,
      learnedFrom: node.learnedFrom
    }
    // the addresses go in our state, not the peer store's address list: a
    // merge never removes one, so gossip could pile them up there
    this.queueStoreWrite(node.peerId, {
      tags: { [DISCOVERY_TAG]: { value: DISCOVERY_TAG_VALUE } },
      metadata: {
        [PEER_TYPE_METADATA]: Uint8Array.of(typeNumber(node.type)),
        [DISCOVERY_STATE_METADATA]: new TextEncoder().encode(JSON.stringify(state))
      }
    })
  }

  private queueStoreWrite (peerId: PeerId, data: PeerData): void {
    this.storeQueue.set(peerId.toString(), { peerId, data })
    this.storeWorker ??= this.drainStoreQueue().finally(() => { this.storeWorker = undefined })
  }

  private async drainStoreQueue (): Promise<void> {
    for (const [key, { peerId, data }] of this.storeQueue) {
      this.storeQueue.delete(key)

      try {
        await this.components.peerStore.merge(peerId, data)
      } catch (err: any) {
        this.init.log.error('could not update %p in the peer store - %e', peerId, err)
      }
    }
  }
}

/** How far lastSeen may run ahead of what the peer store holds */
const STORED_LAST_SEEN_STEP = 60_000

/** Sources whose gossip windows and penalties are tracked before expired ones are swept */
const MAX_TRACKED_SOURCES = 4_096

/**
 * Whether a failed dial shows the address was bogus rather than unlucky:
 * nothing listens there, another peer answered, or the peer does not speak
 * the chat protocol. A timeout is not proof (our own load can cause it). A
 * dial of several addresses is bogus when every one of them was.
 */
export function isBogusDial (err: unknown): boolean {
  if (err == null || typeof err !== 'object') {
    return false
  }

  const e = err as { name?: string, code?: string, message?: string, errors?: unknown[] }

  if (Array.isArray(e.errors) && e.errors.length > 0) {
    return e.errors.every(isBogusDial)
  }

  return isWrongPeer(err) || isNoChat(err) || e.code === 'ECONNREFUSED' || /ECONNREFUSED|not supported/i.test(e.message ?? '')
}

/** Whether a failed dial found a peer that does not speak the chat protocol */
function isNoChat (err: unknown): boolean {
  const e = err as { name?: string, message?: string, errors?: unknown[] } | undefined
  if (Array.isArray(e?.errors) && e.errors.length > 0) return e.errors.every(isNoChat)
  return e?.name === 'UnsupportedProtocolError' || /protocol selection failed/i.test(e?.message ?? '')
}

/** Whether a failed dial reached another peer than the one asked for, at every address tried */
function isWrongPeer (err: unknown): boolean {
  if (err == null || typeof err !== 'object') {
    return false
  }

  const e = err as { name?: string, errors?: unknown[] }

  if (Array.isArray(e.errors) && e.errors.length > 0) {
    return e.errors.every(isWrongPeer)
  }

  // Noise reports it as a failed handshake naming both keys
  return e.name === 'UnexpectedPeerError' || e.name === 'InvalidPeerIdError' ||
    (e.name === 'EncryptionFailedError' && /does not match expected remote/i.test((err as Error).message ?? ''))
}

/** The state Discovery kept for a peer in the peer store, or undefined when there is none or it cannot be read */
export function storedNodeState (metadata: Map<string, Uint8Array>): StoredNodeState | undefined {
  const bytes = metadata.get(DISCOVERY_STATE_METADATA)

  if (bytes == null) {
    return undefined
  }

  try {
    const state = JSON.parse(new TextDecoder().decode(bytes))

    if (state == null || typeof state !== 'object' || !Array.isArray(state.addresses)) {
      return undefined
    }

    return {
      addresses: state.addresses.filter((a: unknown) => typeof a === 'string').slice(0, MAX_ADDRESSES_PER_NODE),
      pinned: Array.isArray(state.pinned) ? state.pinned.filter((a: unknown) => typeof a === 'string') : [],
      typeConfirmed: state.typeConfirmed === true,
      connected: state.connected === true,
      addedAt: Number(state.addedAt),
      lastSeen: Number(state.lastSeen),
      failures: Number(state.failures),
      nextDialAt: Number(state.nextDialAt),
      learnedFrom: typeof state.learnedFrom === 'string' ? state.learnedFrom : undefined
    }
  } catch {
    return undefined
  }
}

function finite (value: number, otherwise: number): number {
  return Number.isFinite(value) ? value : otherwise
}

/** The role a peer store entry remembers for a peer (written by Discovery) */
export async function rememberedType (peerStore: PeerStore, peerId: PeerId): Promise<PeerEndpoint.Type> {
  try {
    return storedType((await peerStore.get(peerId)).metadata)
  } catch {
    return PeerEndpoint.Type.UNDEFINED
  }
}

/** The role in a peer store entry's metadata */
export function storedType (metadata: Map<string, Uint8Array>): PeerEndpoint.Type {
  const value = metadata.get(PEER_TYPE_METADATA)?.[0]
  return value === 1 ? PeerEndpoint.Type.VALIDATOR : value === 2 ? PeerEndpoint.Type.NON_VALIDATOR : PeerEndpoint.Type.UNDEFINED
}

/** `min(n, items.length)` distinct items, uniformly at random */
export function sample<T> (items: T[], n: number): T[] {
  const k = Math.max(0, Math.min(Math.floor(n), items.length))

  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (items.length - i))
    const tmp = items[i]
    items[i] = items[j]
    items[j] = tmp
  }

  return items.slice(0, k)
}

/**
 * A node's addresses without the trailing `/p2p/<id>`, as the peer store keeps
 * them: it dedupes before stripping that suffix, so the same address given with
 * and without it would be stored twice.
 */
function transportAddresses (node: DiscoveryNode): Multiaddr[] {
  const suffix = `/p2p/${node.peerId.toString()}`
  return node.addresses.map(a => a.decapsulate(suffix))
}

function isKnownType (type: PeerEndpoint.Type): boolean {
  return type === PeerEndpoint.Type.VALIDATOR || type === PeerEndpoint.Type.NON_VALIDATOR
}

function typeNumber (type: PeerEndpoint.Type): number {
  return type === PeerEndpoint.Type.VALIDATOR ? 1 : type === PeerEndpoint.Type.NON_VALIDATOR ? 2 : 0
}

function toMultiaddr (address: string | Multiaddr): Multiaddr {
  if (isMultiaddr(address)) {
    return address
  }

  try {
    return multiaddr(address)
  } catch (err: any) {
    throw new InvalidParametersError(`Discovery address ${String(address).slice(0, 256)} is not a multiaddr: ${err.message}`)
  }
}

function keyOf (ref: NodeRef): string | undefined {
  if (typeof ref !== 'string' && !isMultiaddr(ref)) {
    return ref.toString()
  }

  if (typeof ref === 'string' && !ref.startsWith('/')) {
    // a bare PeerId string
    return ref
  }

  try {
    return peerIdOf(toMultiaddr(ref))?.toString()
  } catch {
    return undefined
  }
}
