import { InvalidParametersError, peerDiscoverySymbol } from '@libp2p/interface'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { peerGivenAddressProblem, peerIdOf } from '../addresses.js'
import { DIAL_BACKOFF_INITIAL, DIAL_BACKOFF_MAX, DISCOVERY_TAG, DISCOVERY_TAG_VALUE, GOSSIP_SHARE, GOSSIP_SHARE_MIN, MAX_ADDRESSES_PER_NODE, PEER_TYPE_METADATA } from '../constants.js'
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
  /** The role came from the node's own hello: gossip cannot change it */
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

type Source = 'user' | 'root' | 'hello' | 'gossip'

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
  /** At most one pending peer store write per peer, the latest state wins */
  private readonly storeQueue = new Map<string, { peerId: PeerId, data: PeerData }>()
  private storeWorker?: Promise<void>

  constructor (components: DiscoveryComponents, init: DiscoveryInit) {
    super()
    this.components = components
    this.init = init
    this.gossipShare = Math.max(GOSSIP_SHARE_MIN, Math.floor(init.maxEntries * GOSSIP_SHARE))
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
    }
  }

  /** A dial of the node worked: no backoff */
  dialSucceeded (ref: NodeRef): void {
    const node = this.find(ref)

    if (node != null) {
      node.failures = 0
      node.nextDialAt = 0
    }
  }

  /**
   * A dial of the node failed: it is not dialed again for an exponentially
   * growing, jittered time (backoffInitial x 2^(failures-1) x 0.5-1.5, at most
   * backoffMax).
   *
   * @returns ms until it is due again (0 when it is not in the list)
   */
  dialFailed (ref: NodeRef): number {
    const node = this.find(ref)

    if (node == null) {
      return 0
    }

    node.failures++
    const initial = this.init.backoffInitial ?? DIAL_BACKOFF_INITIAL
    const jittered = initial * 2 ** (node.failures - 1) * (0.5 + Math.random())
    const wait = Math.round(Math.min(this.init.backoffMax ?? DIAL_BACKOFF_MAX, jittered))
    node.nextDialAt = Date.now() + wait
    return wait
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
      if (source === 'gossip' && from != null && (this.learned.get(from) ?? 0) >= this.gossipShare) {
        // no single peer's gossip owns the list
        this.init.log('%p has %d gossiped nodes in the list, its share: not adding %p', from, this.gossipShare, peerId)
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
        typeConfirmed: source === 'hello',
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

    if (source !== 'gossip' && node.learnedFrom != null) {
      // confirmed by itself, a root list or the user: no longer the gossiper's
      this.credit(node, -1)
      node.learnedFrom = undefined
    }

    if (source === 'hello') {
      node.connected = true
      changed = !node.typeConfirmed || node.type !== type
      node.typeConfirmed = true
    }

    if (source === 'root') {
      node.root = true
    }

    // gossip about a node that keeps failing does not keep it alive
    if (source !== 'gossip' || node.failures === 0) {
      node.lastSeen = now
    }

    if (type !== PeerEndpoint.Type.UNDEFINED && type !== node.type && (source !== 'gossip' || node.type === PeerEndpoint.Type.UNDEFINED)) {
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
   * A full list still admits a root node or a peer that said hello, in place of
   * a node only gossip vouches for that we never reached (the most failed,
   * then the least recently heard of). Gossip never evicts anything.
   */
  private evictForNewcomer (source: Source): boolean {
    if (source !== 'root' && source !== 'hello') {
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
    this.queueStoreWrite(node.peerId, { tags: { [DISCOVERY_TAG]: undefined } })
  }

  private writePeerStore (node: Node): void {
    this.queueStoreWrite(node.peerId, {
      tags: { [DISCOVERY_TAG]: { value: DISCOVERY_TAG_VALUE } },
      metadata: { [PEER_TYPE_METADATA]: Uint8Array.of(typeNumber(node.type)) }
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

/** The role a peer store entry remembers for a peer (written by Discovery) */
export async function rememberedType (peerStore: PeerStore, peerId: PeerId): Promise<PeerEndpoint.Type> {
  try {
    const peer = await peerStore.get(peerId)
    const value = peer.metadata.get(PEER_TYPE_METADATA)?.[0]
    return value === 1 ? PeerEndpoint.Type.VALIDATOR : value === 2 ? PeerEndpoint.Type.NON_VALIDATOR : PeerEndpoint.Type.UNDEFINED
  } catch {
    return PeerEndpoint.Type.UNDEFINED
  }
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
