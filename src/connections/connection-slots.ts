import { repeatingTask } from '@libp2p/utils'
import { CHAT_TAG, CHAT_TAG_VALUE_NON_VALIDATOR, CHAT_TAG_VALUE_VALIDATOR, CLOSE_TIMEOUT } from '../constants.js'
import { PeerEndpoint } from '../pb/fabric.js'
import type { ChatClosedEvent, ChatEstablishedEvent, FabricPeerEvents } from '../index.js'
import type { ComponentLogger, Connection, Logger, PeerId, PeerStore, Startable } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { RepeatingTask } from '@libp2p/utils'
import type { TypedEventTarget } from 'main-event'

export interface ConnectionSlotsComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  logger: ComponentLogger
}

export interface ConnectionSlotsInit {
  /** The service's events: `peer:established` and `peer:closed` tag and untag peers */
  events: TypedEventTarget<FabricPeerEvents>
  /** Whether a peer has an established chat: its connections are never ours to close */
  isEstablished(peerId: PeerId): boolean
  /** How long a connection may stay without an established chat before it counts as a stranger */
  chatGrace: number
  /** Share of maxConnections kept free of strangers */
  reserve: number
  /** How often the connection count is checked */
  checkInterval: number
}

/**
 * Connection slots for the Fabric network. libp2p refuses every inbound
 * connection once it holds `maxConnections` (before it knows who dials), and
 * its pruner only runs when a connection takes it over the limit, which
 * inbound connections never do: strangers that fill the slots keep them, and
 * a new validator is refused. This part keeps room:
 *
 * - peers with an established chat are tagged in the peer store (validators
 *   above non-validators), so libp2p's pruner keeps them whenever it runs;
 * - while more than `maxConnections` minus the reserve are open, connections
 *   whose peer has no established chat `chatGrace` after they opened are
 *   closed, the lowest-valued and oldest first, until the reserve is free.
 *
 * Below that mark nothing is closed: connections for other protocols are
 * none of our business until they take the slots the network needs.
 */
export class ConnectionSlots implements Startable {
  private readonly components: ConnectionSlotsComponents
  private readonly init: ConnectionSlotsInit
  private readonly log: Logger
  private readonly task: RepeatingTask
  /** Peer store writes, in event order: a chat closed and re-established ends tagged */
  private writes: Promise<void> = Promise.resolve()

  constructor (components: ConnectionSlotsComponents, init: ConnectionSlotsInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:fabric:connections')
    this.onEstablished = this.onEstablished.bind(this)
    this.onClosed = this.onClosed.bind(this)
    this.task = repeatingTask(async () => {
      await this.freeReserve().catch(err => { this.log.error('could not free connection slots - %e', err) })
    }, init.checkInterval)
  }

  readonly [Symbol.toStringTag] = 'libp2p-fabric-peer:connection-slots'

  start (): void {
    this.init.events.addEventListener('peer:established', this.onEstablished)
    this.init.events.addEventListener('peer:closed', this.onClosed)
    // a tag left by a process that died with chats open would outrank strangers for nothing
    this.write(async () => { await this.untagStale() })
    this.task.start()
  }

  /** After the chats closed: their untagging is written before we return */
  async stop (): Promise<void> {
    this.task.stop()
    this.init.events.removeEventListener('peer:established', this.onEstablished)
    this.init.events.removeEventListener('peer:closed', this.onClosed)
    await this.writes
  }

  /** How many connections strangers may hold before they are closed */
  threshold (): number {
    const max = this.components.connectionManager.getMaxConnections()
    return max - Math.max(1, Math.ceil(max * this.init.reserve))
  }

  private onEstablished (evt: CustomEvent<ChatEstablishedEvent>): void {
    const { peerId, endpoint } = evt.detail
    const value = endpoint.type === PeerEndpoint.Type.VALIDATOR ? CHAT_TAG_VALUE_VALIDATOR : CHAT_TAG_VALUE_NON_VALIDATOR
    this.write(async () => { await this.components.peerStore.merge(peerId, { tags: { [CHAT_TAG]: { value } } }) })
  }

  private onClosed (evt: CustomEvent<ChatClosedEvent>): void {
    const { peerId } = evt.detail
    this.write(async () => { await this.components.peerStore.merge(peerId, { tags: { [CHAT_TAG]: undefined } }) })
  }

  private write (fn: () => Promise<void>): void {
    this.writes = this.writes.then(fn).catch(err => {
      this.log.error('could not update the peer store - %e', err)
    })
  }

  private async untagStale (): Promise<void> {
    const stale = await this.components.peerStore.all({
      filters: [peer => peer.tags.has(CHAT_TAG) && !this.init.isEstablished(peer.id)]
    })

    for (const peer of stale) {
      await this.components.peerStore.merge(peer.id, { tags: { [CHAT_TAG]: undefined } })
    }
  }

  /** Close strangers past their grace while the connections exceed the threshold */
  private async freeReserve (): Promise<void> {
    const connections = this.components.connectionManager.getConnections()
    const excess = connections.length - this.threshold()

    if (excess <= 0) {
      return
    }

    const openedBefore = Date.now() - this.init.chatGrace
    const strangers = connections.filter(conn =>
      conn.status === 'open' && conn.timeline.open <= openedBefore && !this.init.isEstablished(conn.remotePeer))

    if (strangers.length === 0) {
      return
    }

    const values = await this.values(strangers)
    const value = (conn: Connection): number => values.get(conn.remotePeer.toString()) ?? 0
    const victims = strangers
      .sort((a, b) => value(a) - value(b) || a.timeline.open - b.timeline.open)
      .slice(0, excess)

    this.log('%d of %d connections open: closing %d without a chat', connections.length, this.components.connectionManager.getMaxConnections(), victims.length)
    await Promise.all(victims.map(async conn => {
      this.log.trace('closing %a from %p: no chat within %dms', conn.remoteAddr, conn.remotePeer, this.init.chatGrace)

      try {
        await conn.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT) })
      } catch (err: any) {
        conn.abort(err)
      }
    }))
  }

  /** Each peer's tag sum, as libp2p's pruner counts it (0 for a peer the store does not know) */
  private async values (connections: Connection[]): Promise<Map<string, number>> {
    const values = new Map<string, number>()

    for (const { remotePeer } of connections) {
      const key = remotePeer.toString()

      if (values.has(key)) {
        continue
      }

      values.set(key, 0)

      try {
        const peer = await this.components.peerStore.get(remotePeer)
        values.set(key, [...peer.tags.values()].reduce((sum, tag) => sum + tag.value, 0))
      } catch {}
    }

    return values
  }
}
