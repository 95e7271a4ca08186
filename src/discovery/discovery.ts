import { InvalidParametersError, peerDiscoverySymbol } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { DISCOVERY_TAG, DISCOVERY_TAG_VALUE, MAX_ADDRESSES_PER_NODE, PEER_TYPE_METADATA } from '../constants.js'
import { PeerEndpoint } from '../pb/fabric.js'
import type { Logger, PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerStore } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** A node in the discovery list */
export interface DiscoveryNode {
  readonly peerId: PeerId
  /** Dialable addresses, each ending in `/p2p/<peerId>`, at most MAX_ADDRESSES_PER_NODE */
  addresses: Multiaddr[]
  /** The address the node gave in its own hello: gossip never evicts it */
  confirmed?: Multiaddr
  /** VALIDATOR or NON_VALIDATOR once known (from its hello or a DISC_PEERS), else UNDEFINED */
  type: PeerEndpoint.Type
  /** A configured root node: never expires */
  root: boolean
  /** Last time we had a chat with it, heard of it from a peer, or added it (ms) */
  lastSeen: number
  /** Dial failures since the last success */
  failures: number
  /** Not to be dialed before this time (ms): the backoff after a failure */
  nextDialAt: number
}

/** Something that names a node: a multiaddr ending in `/p2p/<id>`, or the PeerId */
export type NodeRef = string | Multiaddr | PeerId

export interface DiscoveryComponents {
  peerId: PeerId
  peerStore: PeerStore
}

export interface DiscoveryInit {
  /** Most nodes the list holds */
  maxEntries: number
  log: Logger
  /** Called whenever the list's membership or addresses change */
  onChange?(): void
}

/**
 * Fabric v0.6's discovery list (`DiscoveryImpl`), keyed by PeerId and made
 * correct: removed nodes are gone (not tombstoned), random picks never block,
 * the list is bounded, and we are never in it. Nodes and their addresses are
 * also written to the libp2p peer store with a tag that tells the connection
 * pruner to keep them, and announced as a libp2p `PeerDiscovery`.
 */
export class Discovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  private readonly components: DiscoveryComponents
  private readonly init: DiscoveryInit
  private readonly nodes = new Map<string, DiscoveryNode>()
  /** Peer store writes, in order, so an add never lands after a later remove */
  private storeWrites: Promise<void> = Promise.resolve()

  constructor (components: DiscoveryComponents, init: DiscoveryInit) {
    super()
    this.components = components
    this.init = init
  }

  readonly [peerDiscoverySymbol] = this

  readonly [Symbol.toStringTag] = 'libp2p-fabric-peer:discovery'

  /** Number of nodes in the list */
  get size (): number {
    return this.nodes.size
  }

  /**
   * Add a node by its multiaddr (which must end in `/p2p/<PeerId>`), merging the
   * address into what is known of it.
   *
   * @returns true if the node is in the list afterwards; false for ourselves or when the list is full
   * @throws {InvalidParametersError} for an address that is not a multiaddr or has no `/p2p/`; the list is unchanged
   */
  addNode (address: string | Multiaddr, type: PeerEndpoint.Type = PeerEndpoint.Type.UNDEFINED, root = false, confirmed = false): boolean {
    const addr = toMultiaddr(address)
    const peerId = peerIdOf(addr)

    if (peerId == null) {
      throw new InvalidParametersError(`Discovery address ${addr.toString()} does not end in /p2p/<PeerId>`)
    }

    if (peerId.equals(this.components.peerId)) {
      return false
    }

    const key = peerId.toString()
    const now = Date.now()
    let node = this.nodes.get(key)

    if (node == null) {
      if (this.nodes.size >= this.init.maxEntries) {
        this.init.log('discovery list is full (%d nodes), not adding %p', this.init.maxEntries, peerId)
        return false
      }

      node = { peerId, addresses: [addr], confirmed: confirmed ? addr : undefined, type, root, lastSeen: now, failures: 0, nextDialAt: 0 }
      this.nodes.set(key, node)
      this.writePeerStore(node)
      this.init.onChange?.()
      this.safeDispatchEvent('peer', { detail: { id: peerId, multiaddrs: transportAddresses(node) } })
      return true
    }

    node.lastSeen = now
    node.root ||= root
    let changed = false

    if (confirmed && node.confirmed?.equals(addr) !== true) {
      node.confirmed = addr
      changed = true
    }

    if (!node.addresses.some(a => a.equals(addr))) {
      node.addresses.push(addr)

      if (node.addresses.length > MAX_ADDRESSES_PER_NODE) {
        // evict the oldest address the node did not confirm itself
        const oldest = node.addresses.findIndex(a => node?.confirmed?.equals(a) !== true)
        node.addresses.splice(oldest, 1)
      }

      changed = true
    }

    if (type !== PeerEndpoint.Type.UNDEFINED && type !== node.type) {
      node.type = type
      changed = true
    }

    if (changed) {
      this.writePeerStore(node)
      this.init.onChange?.()
    }

    return true
  }

  /**
   * Add an endpoint a peer told us about (DISC_PEERS) or that said hello.
   * Invalid endpoints are refused, not thrown: they come from the network.
   *
   * @returns true if it is in the list afterwards
   */
  addEndpoint (endpoint: PeerEndpoint, confirmed = false): boolean {
    const name = endpoint.ID?.name ?? ''

    if (endpoint.address === '' || !isKnownType(endpoint.type)) {
      return false
    }

    try {
      const addr = multiaddr(endpoint.address)

      if (peerIdOf(addr)?.toString() !== name) {
        return false
      }

      return this.addNode(addr, endpoint.type, false, confirmed)
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
    const key = keyOf(ref)
    const node = key == null ? undefined : this.nodes.get(key)

    if (node == null) {
      return false
    }

    this.nodes.delete(node.peerId.toString())
    this.queuePeerStoreWrite(node.peerId, { tags: { [DISCOVERY_TAG]: undefined } })
    this.init.onChange?.()
    return true
  }

  /** Whether a node is in the list */
  findNode (ref: NodeRef): boolean {
    const key = keyOf(ref)
    return key != null && this.nodes.has(key)
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

  /** The node's entry, for the touch loop and the service */
  get (peerId: PeerId | string): DiscoveryNode | undefined {
    return this.nodes.get(peerId.toString())
  }

  /** Every node, for the touch loop */
  values (): IterableIterator<DiscoveryNode> {
    return this.nodes.values()
  }

  /** Every address of every node, for persistence */
  addresses (): string[] {
    return [...this.nodes.values()].flatMap(n => n.addresses.map(a => a.toString()))
  }

  /** Announce every node as discovered (libp2p's `peer` event), as @libp2p/bootstrap does at start */
  announceAll (): void {
    for (const node of this.nodes.values()) {
      this.safeDispatchEvent('peer', { detail: { id: node.peerId, multiaddrs: transportAddresses(node) } })
    }
  }

  /** Wait for pending peer store writes */
  async flush (): Promise<void> {
    await this.storeWrites
  }

  private writePeerStore (node: DiscoveryNode): void {
    this.queuePeerStoreWrite(node.peerId, {
      multiaddrs: transportAddresses(node),
      tags: { [DISCOVERY_TAG]: { value: DISCOVERY_TAG_VALUE } },
      metadata: { [PEER_TYPE_METADATA]: Uint8Array.of(typeNumber(node.type)) }
    })
  }

  private queuePeerStoreWrite (peerId: PeerId, data: Parameters<PeerStore['merge']>[1]): void {
    this.storeWrites = this.storeWrites
      .then(async () => { await this.components.peerStore.merge(peerId, data) })
      .catch(err => { this.init.log.error('could not update %p in the peer store - %e', peerId, err) })
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

function peerIdOf (addr: Multiaddr): PeerId | undefined {
  const id = addr.getComponents().findLast(c => c.name === 'p2p')?.value

  try {
    return id == null ? undefined : peerIdFromString(id)
  } catch {
    return undefined
  }
}

function keyOf (ref: NodeRef): string | undefined {
  if (typeof ref !== 'string' && !isMultiaddr(ref)) {
    return ref.toString()
  }

  try {
    return peerIdOf(toMultiaddr(ref))?.toString()
  } catch {
    return undefined
  }
}
