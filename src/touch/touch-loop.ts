import { setMaxListeners } from '@libp2p/interface'
import { PeerQueue, repeatingTask } from '@libp2p/utils'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { GOSSIP_DIAL_BURST, GOSSIP_DIAL_RATE, GOSSIP_HOST_DIAL_BURST, GOSSIP_HOST_DIAL_RATE } from '../constants.js'
import { sample } from '../discovery/discovery.js'
import { DialPacer } from './dial-pacer.js'
import { PeerEndpoint } from '../pb/fabric.js'
import type { Discovery, DiscoveryNode } from '../discovery/discovery.js'
import type { AbortOptions, Logger, PeerId, Startable } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Least time between two ticks when new nodes nudge the loop */
const NUDGE_GAP = 1_000

/** What one touch tick saw and did */
export interface TouchTick {
  /** Nodes the role policy wants a chat with that have none (before this tick's dials) */
  missing: number
  /** Dials this tick started (at most touchMaxNodes) */
  dialed: PeerId[]
  /** Nodes only gossip vouches for that were due but left for a later tick: their dials are paced */
  paced: number
  /** Nodes dropped from discovery as unreachable for longer than expireAfter */
  expired: PeerId[]
  /** Established chats when the tick ran */
  established: number
}

export interface TouchLoopComponents {
  /** Our own PeerId: of two validators that know each other, the smaller dials */
  peerId: PeerId
  discovery: Discovery
  /** The established chats */
  established(): Iterable<{ peerId: PeerId, type: PeerEndpoint.Type }>
  isEstablished(peerId: PeerId): boolean
  /** Open a chat with a node at these of its addresses; rejects if it cannot be established */
  dial(node: DiscoveryNode, addresses: Multiaddr[], options: AbortOptions): Promise<unknown>
}

export interface TouchLoopInit {
  touchPeriod: number
  touchMaxNodes: number
  concurrency: number
  validator: boolean
  minValidators: number
  expireAfter: number
  /** Dials per second to nodes only gossip vouches for (default GOSSIP_DIAL_RATE) */
  gossipDialRate?: number
  /** ...and to one host (default GOSSIP_HOST_DIAL_RATE) */
  gossipHostDialRate?: number
  log: Logger
  onTick?(tick: TouchTick): void
}

/** Dials in flight at first; the window grows from here */
const INITIAL_WINDOW = 2
/**
 * A dial that takes longer than this many times the quickest one seen (and at
 * least SLOW_DIAL_FLOOR ms) counts as congestion, like a timeout. On a LAN a
 * dial takes milliseconds; across a continent a few round trips: the factor
 * keeps a slow but healthy network from being taken for an overloaded one.
 */
const SLOW_DIAL_FACTOR = 8
const SLOW_DIAL_FLOOR = 1_000
/** ...and a dial over this is slow whatever the quickest was: the quickest may itself have been measured under load */
const SLOW_DIAL_CEILING = 2_500

/**
 * Fabric v0.6's `ensureConnected`, bounded: every `touchPeriod` it compares the
 * established chats with discovery and dials at most `touchMaxNodes` missing
 * nodes, in random order so a network does not pile onto the same nodes, at
 * most `concurrency` at a time: a window that starts at 2, halves when a dial
 * times out or takes much longer than the quickest dial seen (handshakes
 * queueing for a CPU that cannot keep up) and grows by one per dial that works
 * quickly. A node that fails waits an exponentially growing,
 * jittered time before the next try, and a node nobody has reached or
 * mentioned for `expireAfter` leaves the list.
 *
 * Roles: a validator wants every validator (and nodes whose role it does not
 * know yet); a non-validator only wants `minValidators` validators.
 */
export class TouchLoop implements Startable {
  private readonly components: TouchLoopComponents
  private readonly init: TouchLoopInit
  private readonly queue: PeerQueue
  /** PeerIds with a dial queued or running */
  private readonly dialing = new Set<string>()
  private task?: RepeatingTask
  private shutdown = new AbortController()
  private lastTick = 0
  /** The quickest dial seen: what a dial takes here when nothing is queueing */
  private fastestDial = Infinity
  private self?: Uint8Array
  private nudged?: ReturnType<typeof setTimeout>
  private readonly pacer: DialPacer

  constructor (components: TouchLoopComponents, init: TouchLoopInit) {
    this.components = components
    this.init = init
    // slow start: the window grows by one per dial that works quickly
    this.queue = new PeerQueue({ concurrency: Math.min(INITIAL_WINDOW, init.concurrency) })
    this.pacer = new DialPacer(init.gossipDialRate ?? GOSSIP_DIAL_RATE, init.gossipHostDialRate ?? GOSSIP_HOST_DIAL_RATE, GOSSIP_DIAL_BURST, GOSSIP_HOST_DIAL_BURST)
  }

  start (): void {
    this.shutdown = new AbortController()
    setMaxListeners(Infinity, this.shutdown.signal)

    if (this.init.touchPeriod > 0) {
      this.task = repeatingTask(() => { this.tick() }, this.init.touchPeriod, { runImmediately: true })
      this.task.start()
    } else {
      // touch disabled (v0.6 panicked on 0): chat with everything we know once, never redial
      queueMicrotask(() => { this.tick(Infinity) })
    }
  }

  stop (): void {
    clearTimeout(this.nudged)
    this.nudged = undefined
    this.task?.stop()
    this.shutdown.abort()
    this.queue.abort()
  }

  /**
   * New nodes are known: run a tick soon rather than at the next period, but
   * never more than once per NUDGE_GAP. Each tick still dials at most
   * touchMaxNodes, counting dials in flight, so this cannot become a storm.
   */
  nudge (): void {
    if (this.task == null || this.nudged != null || this.shutdown.signal.aborted) {
      return
    }

    const wait = Math.max(0, this.lastTick + NUDGE_GAP - Date.now())
    this.nudged = setTimeout(() => {
      this.nudged = undefined
      this.tick()
    }, wait)
  }

  /** Dials queued or running */
  get pending (): number {
    return this.dialing.size
  }

  /**
   * One pass of the loop; exposed for tests and benchmarks. At most `budget`
   * dials are queued or running when it returns, so no backlog builds up
   * across ticks when dials are slower than the period.
   */
  tick (budget = this.init.touchMaxNodes < 0 ? Infinity : this.init.touchMaxNodes): TouchTick {
    const now = Date.now()
    this.lastTick = now
    const { discovery } = this.components
    const expired: PeerId[] = []
    const missing: DiscoveryNode[] = []
    let established = 0

    for (const node of discovery.values()) {
      if (this.components.isEstablished(node.peerId)) {
        discovery.seen(node.peerId, now)
        established++
      } else if (!node.root && now - node.lastSeen > this.init.expireAfter) {
        expired.push(node.peerId)
      } else if (this.wants(node)) {
        missing.push(node)
      }
    }

    for (const peerId of expired) {
      this.init.log('%p unreachable for %dms, removing it from discovery', peerId, this.init.expireAfter)
      discovery.removeNode(peerId)
    }

    const dialed: PeerId[] = []
    let paced = 0
    let room = budget - this.dialing.size

    if (!this.init.validator) {
      room = Math.min(room, this.validatorsNeeded())
    }

    if (room > 0) {
      // enough candidates for the room left, counting those already being dialed
      for (const node of this.order(missing, now, room + this.dialing.size)) {
        if (dialed.length >= room) {
          break
        }

        if (this.dialing.has(node.peerId.toString())) {
          continue
        }

        // gossip names the address: such a node is dialed at one address a
        // time (the next after each failure), paced in all and per host
        // (newest first: a node that moved is dialed at its new address)
        const addresses = node.learnedFrom == null ? [...node.addresses] : [node.addresses[node.addresses.length - 1 - (node.failures % node.addresses.length)]]

        if (node.learnedFrom != null && !this.pacer.take(addresses[0], now)) {
          paced++
          continue
        }

        dialed.push(node.peerId)
        this.dial(node, addresses)
      }
    }

    const tick = { missing: missing.length, dialed, paced, expired, established }

    if (paced > 0) {
      // come back when the buckets have refilled, not a whole period later
      this.nudge()
    }

    if (missing.length > 0) {
      this.init.log('touch: %d established, %d missing, dialing %d', established, missing.length, dialed.length)
    }

    this.init.onTick?.(tick)
    return tick
  }

  /** Whether the role policy wants a chat with this node */
  private wants (node: DiscoveryNode): boolean {
    // a node of unknown role is dialed to learn it (its hello says); a root
    // node always (what gossip says of its role is only a hint)
    return node.root || node.type !== PeerEndpoint.Type.NON_VALIDATOR
  }

  /**
   * Nodes that are due, in the order to dial them: for a non-validator known
   * validators first. Two validators that know each other would otherwise both
   * dial, doubling the handshakes of a forming mesh and then closing one chat
   * of each pair: the one with the smaller PeerId dials, the other waits a
   * touchPeriod after learning of it (in case it does not know us) first.
   * Root nodes are dialed at once.
   */
  private order (missing: DiscoveryNode[], now: number, limit: number): DiscoveryNode[] {
    const due = missing.filter(node => node.nextDialAt <= now && (node.root || !this.init.validator || this.dialsFirst(node) || now - node.addedAt >= this.init.touchPeriod))

    // a random `limit` of them, not a shuffle of thousands every tick
    if (this.init.validator) {
      return sample(due, limit)
    }

    const validators = sample(due.filter(n => n.type === PeerEndpoint.Type.VALIDATOR), limit)
    const unknown = validators.length >= limit ? [] : sample(due.filter(n => n.type !== PeerEndpoint.Type.VALIDATOR), limit - validators.length)
    return [...validators, ...unknown]
  }

  private dialsFirst (node: DiscoveryNode): boolean {
    this.self ??= this.components.peerId.toMultihash().bytes
    return uint8ArrayCompare(this.self, node.peerId.toMultihash().bytes) < 0
  }

  /** For a non-validator: how many more validator chats it should open */
  private validatorsNeeded (): number {
    let have = 0

    for (const chat of this.components.established()) {
      if (chat.type === PeerEndpoint.Type.VALIDATOR) {
        have++
      }
    }

    return Math.max(0, this.init.minValidators - have - this.dialing.size)
  }

  private dial (node: DiscoveryNode, addresses: Multiaddr[]): void {
    const key = node.peerId.toString()
    this.dialing.add(key)

    this.queue.add(async (options) => {
      // the node may have been removed, or chatted with us, while it waited
      if (this.components.discovery.get(node.peerId) !== node || this.components.isEstablished(node.peerId)) {
        return
      }

      const started = performance.now()

      try {
        await this.components.dial(node, addresses, options)
        this.components.discovery.dialSucceeded(node.peerId)
        const took = performance.now() - started
        this.fastestDial = Math.min(this.fastestDial, took)
        const slow = Math.max(SLOW_DIAL_FLOOR, Math.min(SLOW_DIAL_FACTOR * this.fastestDial, SLOW_DIAL_CEILING))

        if (took > slow) {
          // it worked, but slowly: handshakes are queueing for CPU (ours or
          // theirs); back off before they start to time out
          this.queue.concurrency = Math.max(1, Math.floor(this.queue.concurrency / 2))
        } else if (took <= slow / 2) {
          // additive increase: a dial that works quickly earns the window one more
          this.queue.concurrency = Math.min(this.init.concurrency, this.queue.concurrency + 1)
        }
      } catch (err: any) {
        if (this.shutdown.signal.aborted) {
          return
        }

        if (err.name === 'TimeoutError' || /timeout/i.test(err.message ?? '')) {
          // multiplicative decrease: handshakes timing out mean the CPU (ours
          // or theirs) cannot keep up with this many at once
          this.queue.concurrency = Math.max(1, Math.floor(this.queue.concurrency / 2))
        }

        const wait = this.components.discovery.dialFailed(node.peerId, err, addresses.length === 1 ? addresses[0] : undefined)
        this.init.log('touch: dial %p failed (%d in a row), next try in %dms - %s', node.peerId, node.failures, wait, err.message)
      }
    }, { peerId: node.peerId, signal: this.shutdown.signal })
      .catch(() => {
        // aborted at stop
      })
      .finally(() => {
        this.dialing.delete(key)
      })
  }
}
