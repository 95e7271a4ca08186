import { Message, PeerEndpoint } from './pb/fabric.js'
import type { Counter, CounterGroup, Metrics } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The label values of `libp2p_fabric_rejected_peers_total` */
export type RejectionReason = 'hello' | 'frame' | 'signature' | 'membership' | 'peers' | 'policy' | 'other'

/** What the metrics read at scrape time */
export interface FabricMetricsSources {
  /** The roles of the established chats */
  chatRoles(): Iterable<PeerEndpoint.Type>
  /** Nodes in the discovery list */
  discoverySize(): number
}

/** Message.Type names by wire value, from the generated codec itself (unknown values stay undefined) */
const TYPE_NAMES: Array<string | undefined> = Array.from({ length: 128 }, (_, value) => {
  try {
    return Message.decode(Uint8Array.of(0x08, value)).type
  } catch {
    return undefined
  }
})

/** The `Message.Type` names: protons adds a `codec` function to the enum's values */
const TYPES = Object.values(Message.Type).filter((type): type is Message.Type => typeof type === 'string')

/**
 * Messages in and out by type, counted on the chat hot path in plain numbers:
 * no metric call per message, libp2p reads them when it is scraped.
 */
export class MessageCounters {
  /** Messages received, by `Message.Type` name (a decoded message always has a known type) */
  readonly received: Record<string, number> = Object.fromEntries(TYPES.map(type => [type, 0]))
  /** Messages queued to send, by the type's wire value */
  readonly sent: number[] = new Array(TYPE_NAMES.length).fill(0)
  /** Sends refused because a peer's queue was full */
  queueFull = 0

  /**
   * Count an encoded `Message` queued to send. Our encoder writes field 1
   * (type) first, as a one-byte tag and a varint, and omits it for UNDEFINED;
   * a large message is a list whose first part starts the same way.
   */
  countSent (encoded: Uint8Array | Uint8ArrayList): void {
    const head = encoded instanceof Uint8Array ? encoded : encoded.byteLength >= 2 ? encoded.subarray(0, 2) : new Uint8Array(0)
    this.sent[head[0] === 0x08 ? head[1] & 0x7f : 0]++
  }
}

/**
 * The service's metrics, registered with libp2p's `metrics` component (for
 * example `@libp2p/prometheus-metrics`). Only created when a node has one.
 *
 * Gauges are computed at scrape time from the service's own state; message
 * counts come from {@link MessageCounters}; rare events (rejections, touch
 * dials) are plain counters.
 */
export class FabricMetrics {
  readonly messages = new MessageCounters()

  private readonly rejections: CounterGroup
  private readonly touchDials: Counter
  private readonly touchFailures: Counter

  constructor (metrics: Metrics, sources: FabricMetricsSources) {
    metrics.registerMetricGroup('libp2p_fabric_chats', {
      label: 'role',
      help: 'Established chats by the remote peer\'s role',
      calculate: () => {
        const chats = { validator: 0, non_validator: 0, undefined: 0 }

        for (const type of sources.chatRoles()) {
          chats[roleLabel(type)]++
        }

        return chats
      }
    })
    metrics.registerMetric('libp2p_fabric_discovery_nodes', {
      help: 'Nodes in the discovery list',
      calculate: () => sources.discoverySize()
    })
    metrics.registerCounterGroup('libp2p_fabric_messages_received_total', {
      label: 'type',
      help: 'Chat messages received, by type',
      calculate: deltas(() => Object.entries(this.messages.received))
    })
    metrics.registerCounterGroup('libp2p_fabric_messages_sent_total', {
      label: 'type',
      help: 'Chat messages queued to send, by type',
      calculate: deltas(() => this.messages.sent.flatMap((count, value) => count > 0 ? [[TYPE_NAMES[value] ?? `type_${value}`, count] as [string, number]] : []))
    })
    const queueFull = deltas(() => [['full', this.messages.queueFull]])
    metrics.registerCounter('libp2p_fabric_send_queue_full_total', {
      help: 'Sends refused because the peer\'s send queue was full (backpressure)',
      calculate: () => queueFull().full ?? 0
    })
    this.rejections = metrics.registerCounterGroup('libp2p_fabric_rejected_peers_total', {
      label: 'reason',
      help: 'Peers whose chat was refused or closed for breaking the protocol or policy, by reason'
    })
    this.touchDials = metrics.registerCounter('libp2p_fabric_touch_dials_total', {
      help: 'Dials started by the touch loop'
    })
    this.touchFailures = metrics.registerCounter('libp2p_fabric_touch_dial_failures_total', {
      help: 'Touch loop dials that did not end in an established chat'
    })
  }

  /** A peer was rejected; `reason` is the free text, counted under a bounded label */
  rejected (reason: string | RejectionReason): void {
    this.rejections.increment({ [rejectionReason(reason)]: 1 })
  }

  touchDialed (): void {
    this.touchDials.increment()
  }

  touchDialFailed (): void {
    this.touchFailures.increment()
  }
}

/**
 * The label for a rejection's free-text reason: the reasons name peer ids and
 * numbers, and a label must come from a small fixed set.
 */
export function rejectionReason (reason: string): RejectionReason {
  if (['hello', 'frame', 'signature', 'membership', 'peers', 'policy', 'other'].includes(reason)) {
    return reason as RejectionReason
  }

  if (/^Undecodable frame|^Frame /.test(reason)) {
    return 'frame'
  }

  // our own hello reasons start so; what follows may be the peer's text
  if (/^hello /.test(reason)) {
    return 'hello'
  }

  // before DISC_HELLO: an unsigned or badly signed hello is a signature failure
  if (/signature|^unsigned |timestamp|maxMessageAge/.test(reason)) {
    return 'signature'
  }

  if (/DISC_HELLO/.test(reason)) {
    return 'hello'
  }

  if (/not a member|validator set/.test(reason)) {
    return 'membership'
  }

  if (/DISC_PEERS/.test(reason)) {
    return 'peers'
  }

  return 'other'
}

function roleLabel (type: PeerEndpoint.Type): 'validator' | 'non_validator' | 'undefined' {
  switch (type) {
    case PeerEndpoint.Type.VALIDATOR: return 'validator'
    case PeerEndpoint.Type.NON_VALIDATOR: return 'non_validator'
    default: return 'undefined'
  }
}

/**
 * libp2p's calculated counters add what `calculate` returns at every scrape
 * (as its own `libp2p_data_transfer_bytes_total` does), so they are given
 * what changed since the last scrape, not the running totals.
 */
function deltas (totals: () => Array<[string, number]>): () => Record<string, number> {
  const reported = new Map<string, number>()

  return () => {
    const out: Record<string, number> = {}

    for (const [key, total] of totals()) {
      const delta = total - (reported.get(key) ?? 0)

      if (delta > 0) {
        out[key] = delta
        reported.set(key, total)
      }
    }

    return out
  }
}
