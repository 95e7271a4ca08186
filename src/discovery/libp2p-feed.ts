import { canonicalHost } from '../addresses.js'
import { CHAT_PROTOCOL } from '../constants.js'
import type { Discovery } from './discovery.js'
import type { IdentifyResult, Libp2pEvents, Logger, PeerInfo, PeerStore, TypedEventTarget } from '@libp2p/interface'

/** The source libp2p peer discovery modules count as, for gossip's rules */
export const PEER_DISCOVERY_SOURCE = 'libp2p-peer-discovery'

export interface Libp2pFeedComponents {
  peerStore: PeerStore
  events?: TypedEventTarget<Libp2pEvents>
}

export interface Libp2pFeedInit {
  discovery: Discovery
  log: Logger
  /** Called when a peer joined the list: the touch loop should look soon */
  onLearned?(): void
}

/**
 * Every way the libp2p node finds peers feeds the discovery list, for peers
 * known to speak the chat protocol:
 *
 * - identify (`peer:identify`), on any connection, ours or theirs: a peer
 *   whose protocol list has `/fabric/chat/1.0.0` joins with the addresses it
 *   listens on (and the one we reached it at, when we dialed);
 * - the node's peer discovery (`peer:discovery`: `@libp2p/bootstrap`,
 *   `@libp2p/mdns`, `@libp2p/kad-dht`, …): a reported peer joins when the peer
 *   store already knows it speaks the chat protocol; otherwise it waits for an
 *   identify (bootstrap dials its list itself; a connection anyone opens runs
 *   identify). The node never dials a stranger to ask.
 *
 * Peers that do not speak the protocol never enter the list. Addresses pass
 * the same checks as a hello's: dialable by the node's transports, not the
 * node's own. Only a peer identified over a connection we opened is taken as
 * confirmed; the others are held to gossip's rules (see `Discovery`).
 */
export class Libp2pFeed {
  private readonly components: Libp2pFeedComponents
  private readonly init: Libp2pFeedInit
  private running = false

  constructor (components: Libp2pFeedComponents, init: Libp2pFeedInit) {
    this.components = components
    this.init = init
    this.onIdentify = this.onIdentify.bind(this)
    this.onDiscovery = this.onDiscovery.bind(this)
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.components.events?.addEventListener('peer:identify', this.onIdentify)
    this.components.events?.addEventListener('peer:discovery', this.onDiscovery)
  }

  stop (): void {
    this.running = false
    this.components.events?.removeEventListener('peer:identify', this.onIdentify)
    this.components.events?.removeEventListener('peer:discovery', this.onDiscovery)
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    const { peerId, protocols, listenAddrs, connection } = evt.detail

    if (!protocols.includes(CHAT_PROTOCOL)) {
      return
    }

    if (connection?.direction === 'outbound') {
      // a connection we opened (the user's dial, @libp2p/bootstrap): where we
      // reached it is proven, whatever it says it listens on
      const addresses = [connection.remoteAddr, ...listenAddrs]
      this.learn(peerId.toString(), () => this.init.discovery.addDiscovered(peerId, addresses), 'identify')
      return
    }

    // a peer that connected to us: where it listens is only its word, held to
    // the rules of gossip from the host it connected from (a share, a count
    // per period, paced dials, the cost of bogus addresses)
    const host = connection?.remoteAddr.getComponents()[0]?.value
    const from = `identify:${host == null ? 'unknown' : canonicalHost(host)}`
    this.learn(peerId.toString(), () => this.init.discovery.addDiscovered(peerId, listenAddrs, from), 'identify')
  }

  private onDiscovery (evt: CustomEvent<PeerInfo>): void {
    const { id, multiaddrs } = evt.detail

    // our own Discovery announces its nodes as a libp2p peer discovery too
    if (this.init.discovery.findNode(id)) {
      return
    }

    void this.components.peerStore.get(id)
      .then(peer => {
        if (this.running && peer.protocols.includes(CHAT_PROTOCOL) && !this.init.discovery.findNode(id)) {
          // mDNS, a DHT: what they report is what peers announce; held to
          // the rules of gossip, all of it from one source
          this.learn(id.toString(), () => this.init.discovery.addDiscovered(id, multiaddrs, PEER_DISCOVERY_SOURCE), 'peer discovery')
        }
      })
      .catch(() => {
        // not in the peer store (yet): an identify will tell
      })
  }

  private learn (peer: string, add: () => boolean, how: string): void {
    const known = this.init.discovery.findNode(peer)

    if (add() && !known) {
      this.init.log('%s: %s speaks %s, added to discovery', how, peer, CHAT_PROTOCOL)
      this.init.onLearned?.()
    }
  }
}
