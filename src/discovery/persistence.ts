import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import * as varint from 'uint8-varint'
import { peerIdOf } from '../addresses.js'
import { PeerEndpoint, PeersAddresses } from '../pb/fabric.js'
import { DISCOVERY_TAG } from '../constants.js'
import { rememberedType, storedNodeState, storedType } from './discovery.js'
import type { Discovery } from './discovery.js'
import type { Logger, PeerStore } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'

export interface DiscoveryListStoreInit {
  /** The datastore key */
  key: string
  /** Most addresses read back */
  maxAddresses: number
  /** Changes within this many ms share one write */
  delay: number
  log: Logger
  /** A stored list was damaged: what was wrong and what was kept, for the operator */
  onCorrupt?(message: string): void
}

/**
 * The persisted discovery list (Fabric's `StoreDiscoveryList` /
 * `LoadDiscoveryList`): one datastore key holding a `PeersAddresses`. A single
 * put replaces the value whole, so a reader (or a node restarted after
 * SIGKILL) sees the old list or the new one, never a torn one.
 */
export class DiscoveryListStore {
  private readonly datastore: Datastore
  private readonly init: DiscoveryListStoreInit
  private readonly key: Key
  private timer?: ReturnType<typeof setTimeout>
  private snapshot?: () => string[]
  private writing: Promise<void> = Promise.resolve()
  private closed = false

  constructor (datastore: Datastore, init: DiscoveryListStoreInit) {
    this.datastore = datastore
    this.init = init
    this.key = new Key(init.key)
  }

  /**
   * The stored addresses; empty when there are none. A value that cannot be
   * read or decoded is logged and ignored: a damaged list must not stop the node.
   */
  async load (): Promise<string[]> {
    let bytes: Uint8Array

    try {
      if (!(await this.datastore.has(this.key))) {
        return []
      }

      bytes = await this.datastore.get(this.key)
    } catch (err: any) {
      this.init.log.error('could not read the discovery list - %e', err)
      return []
    }

    try {
      // our own value, bounded by what we wrote; a list longer than today's limit is cut, not discarded
      return PeersAddresses.decode(bytes).addresses.slice(0, this.init.maxAddresses)
    } catch (err: any) {
      const kept = salvage(bytes).slice(0, this.init.maxAddresses)
      const message = `the persisted discovery list (${this.init.key}, ${bytes.byteLength} bytes) is corrupt (${err.message}): kept the ${kept.length} address${kept.length === 1 ? '' : 'es'} before the damage; the root nodes and peers' gossip fill in the rest`
      this.init.log.error(message)
      this.init.onCorrupt?.(message)
      return kept
    }
  }

  /**
   * Write the list `delay` ms from now (unless a write is already due), taking
   * its contents from `snapshot` at that moment.
   */
  schedule (snapshot: () => string[]): void {
    this.snapshot = snapshot

    if (this.timer == null && !this.closed) {
      this.timer = setTimeout(() => { void this.write() }, this.init.delay)
    }
  }

  /** Write any scheduled change now, and wait for writes in progress */
  async flush (): Promise<void> {
    if (this.timer != null) {
      await this.write()
    }

    await this.writing
  }

  /** Write a pending change, then accept no more: the datastore may be closed after this */
  async close (): Promise<void> {
    await this.flush()
    this.closed = true
  }

  /** Accept changes again (a restarted service) */
  open (): void {
    this.closed = false
  }

  private async write (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const addresses = this.snapshot?.() ?? []

    // one write at a time, in order
    this.writing = this.writing.then(async () => {
      try {
        await this.datastore.put(this.key, PeersAddresses.encode({ addresses }))
        this.init.log.trace('stored %d discovery addresses', addresses.length)
      } catch (err: any) {
        this.init.log.error('could not store the discovery list - %e', err)
      }
    })

    await this.writing
  }
}

/**
 * Fabric's `initDiscovery`: the nodes the peer store holds (tagged by
 * Discovery, with their role, addresses and state), then the persisted
 * `PeersAddresses` list for nodes the peer store no longer has, then the root
 * nodes. The touch loop's first tick chats with them.
 *
 * The peer store wins where both know a node: it has the role, the failures
 * and the backoff. The `PeersAddresses` record stays because the peer store
 * forgets: libp2p drops a peer's addresses an hour after they were last seen
 * and the whole peer after six hours without an update, so a node that was
 * down for a day would otherwise start knowing nobody.
 */
export async function restoreDiscovery (discovery: Discovery, peerStore: PeerStore, persisted: string[] | undefined, rootNodes: Multiaddr[], log: Logger): Promise<void> {
  if (persisted != null) {
    let restored = 0

    try {
      for (const peer of await peerStore.all({ filters: [(peer) => peer.tags.has(DISCOVERY_TAG)] })) {
        const state = storedNodeState(peer.metadata)

        if (state == null) {
          continue
        }

        // its addresses are the ones Discovery kept (pinned first), not the
        // peer store's address list: identify writes a peer's own claims there
        if (discovery.restore(peer.id, storedType(peer.metadata), state)) {
          restored++
        }
      }
    } catch (err: any) {
      log.error('could not read the discovery nodes from the peer store - %e', err)
    }

    log('restored %d discovery nodes from the peer store', restored)
  }

  const byPeer = new Map<string, Multiaddr[]>()

  for (const address of persisted ?? []) {
    try {
      const addr = multiaddr(address)
      const id = peerIdOf(addr)?.toString()

      if (id != null) {
        byPeer.set(id, [...(byPeer.get(id) ?? []), addr])
      }
    } catch (err: any) {
      log('skipping persisted address %s - %s', address, err.message)
    }
  }

  // one peer store read per node for the role it remembers
  for (const [id, addrs] of byPeer) {
    if (discovery.findNode(id)) {
      // the peer store had it, with its addresses and more
      continue
    }

    const type = await rememberedType(peerStore, peerIdFromString(id))
    addrs.forEach(addr => discovery.addNode(addr, type))
  }

  for (const addr of rootNodes) {
    discovery.addNode(addr, PeerEndpoint.Type.UNDEFINED, true)
  }

  log('discovery starts with %d nodes (%d root nodes)', discovery.size, rootNodes.length)
}

/**
 * The addresses of a damaged PeersAddresses record up to the first damage (a
 * truncated write, a foreign value): each field 1, length-delimited UTF-8.
 */
function salvage (bytes: Uint8Array): string[] {
  const addresses: string[] = []
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  let pos = 0

  try {
    while (pos < bytes.byteLength && bytes[pos] === 0x0a) {
      const length = varint.decode(bytes, pos + 1)
      const start = pos + 1 + varint.encodingLength(length)

      if (start + length > bytes.byteLength) {
        break
      }

      addresses.push(utf8.decode(bytes.subarray(start, start + length)))
      pos = start + length
    }
  } catch {
    // an unreadable length or text: the damage starts here
  }

  return addresses
}
