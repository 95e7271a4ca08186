import { repeatingTask } from '@libp2p/utils'
import { sample } from '../discovery/discovery.js'
import { createMessage, decodePayload } from '../message.js'
import { Message, PeersMessage } from '../pb/fabric.js'
import type { ChatSession } from './chat-session.js'
import type { Discovery } from '../discovery/discovery.js'
import type { Logger, Startable } from '@libp2p/interface'
import type { RepeatingTask } from '@libp2p/utils'

/** Chats asked for their peers as soon as they are established, per discovery period */
const EARLY_ASKS_PER_PERIOD = 3

export interface PeerExchangeInit {
  discoveryPeriod: number
  /** Chats asked per period; -1 for every chat, as Fabric v0.6 */
  discoveryFanout: number
  /** Most endpoints accepted in one DISC_PEERS, and sent in one */
  maxPeersPerMessage: number
  maxMessageSize: number
  discovery: Discovery
  /** The established chats */
  chats(): ChatSession[]
  /** New nodes entered discovery: the touch loop may want to run early */
  onLearned(): void
  log: Logger
}

/** When a chat's peer last had its DISC_PEERS taken */
interface ExchangeTimes {
  peersAt: number
}

/**
 * How long one encoded DISC_PEERS answer is reused while our chats do not
 * change: every DISC_GET_PEERS is answered, and a flood of them costs a queued
 * copy of the same bytes each, not a new sample and encoding (floods are
 * bounded by the message rate)
 */
const ANSWER_TTL = 1_000

/**
 * Fabric's peer exchange on the chats: every `discoveryPeriod` a sample of
 * established chats is asked for its peers (DISC_GET_PEERS), each peer's
 * DISC_GET_PEERS is answered with our established peers (DISC_PEERS), and the
 * endpoints a peer sends go into discovery, for the touch loop to dial. Every
 * DISC_GET_PEERS is answered (from an answer encoded at most ANSWER_TTL ago);
 * a peer's DISC_PEERS is taken at most once per half a discovery period.
 */
export class PeerExchange implements Startable {
  private readonly init: PeerExchangeInit
  private readonly task: RepeatingTask
  /** Peers ask every discoveryPeriod; more often than twice that is a flood */
  private readonly interval: number
  private readonly times = new WeakMap<ChatSession, ExchangeTimes>()
  /** DISC_GET_PEERS sent on establishment in this discovery period */
  private earlyAsks = 0
  private answer?: { payload: Uint8Array, at: number }

  constructor (init: PeerExchangeInit) {
    this.init = init
    this.interval = init.discoveryPeriod / 2
    this.task = repeatingTask(() => { this.askForPeers() }, init.discoveryPeriod)
  }

  start (): void {
    this.task.start()
  }

  stop (): void {
    this.task.stop()
  }

  /**
   * A new peer's peers now, not at the next discovery period: a node that has
   * just joined learns the network from its first chats. Only the first few
   * per period: in a forming mesh every chat asking at once is O(N^2) lists
   * of N entries on top of the periodic exchange, for nothing new.
   */
  established (session: ChatSession): void {
    // our peers changed: the next answer lists them as they are now
    this.answer = undefined

    if (this.earlyAsks < EARLY_ASKS_PER_PERIOD) {
      this.earlyAsks++

      try {
        session.sendMessage(createMessage(Message.Type.DISC_GET_PEERS))
      } catch {}
    }
  }

  /** An established chat ended: the next answer no longer lists it */
  closed (): void {
    this.answer = undefined
  }

  /** A peer's DISC_GET_PEERS: always answered with our established peers */
  onGetPeers (session: ChatSession): void {
    const now = Date.now()

    if (this.answer == null || now - this.answer.at >= ANSWER_TTL) {
      this.answer = { payload: PeersMessage.encode(this.peersToShare()), at: now }
    }

    session.reply(createMessage(Message.Type.DISC_PEERS, this.answer.payload))
  }

  /**
   * A peer's DISC_PEERS: its endpoints go into discovery (validated there).
   *
   * @throws {PeerRejectedError} for an undecodable list or one over maxPeersPerMessage
   */
  onPeers (session: ChatSession, msg: Message): void {
    // checked before decoding: a flood costs us nothing but this test
    if (!this.due(session, 'peersAt')) {
      this.init.log.trace('ignoring a DISC_PEERS from %p sent sooner than %dms after the last', session.remotePeer, this.interval)
      return
    }

    const { peers } = decodePayload(PeersMessage, msg.payload, 'DISC_PEERS', { limits: { peers: this.init.maxPeersPerMessage } })
    // learned nodes wait for the touch loop: no dial storm from one message
    const { discovery } = this.init
    const sizeBefore = discovery.size
    let added = 0

    for (const endpoint of peers) {
      if (discovery.addEndpoint(endpoint, false, session.remotePeer)) {
        added++
      }
    }

    this.init.log.trace('%p sent %d peers, %d in discovery', session.remotePeer, peers.length, added)

    if (discovery.size > sizeBefore) {
      this.init.onLearned()
    }

    // from the end of the work: a flood gets one message per (processing + interval)
    this.timesOf(session).peersAt = Date.now()
  }

  /** Our chats for a DISC_PEERS: a random sample if there are more than a peer accepts or a frame holds */
  peersToShare (): PeersMessage {
    const all = this.init.chats().map(session => session.to())
    let count = Math.min(all.length, this.init.maxPeersPerMessage)
    let answer: PeersMessage = { peers: count < all.length ? sample(all, count) : all }

    // the Message around it: type, timestamp, the payload's tag and length, and a signature
    while (count > 0 && PeersMessage.encode(answer).byteLength > this.init.maxMessageSize - 160) {
      count = Math.floor(count / 2)
      answer = { peers: answer.peers.slice(0, count) }
    }

    return answer
  }

  /** Every discoveryPeriod: ask a sample of the chats for their peers */
  private askForPeers (): void {
    this.earlyAsks = 0
    const ask = createMessage(Message.Type.DISC_GET_PEERS)
    const chats = this.init.chats()
    const asked = this.init.discoveryFanout < 0 ? chats : sample(chats, this.init.discoveryFanout)

    for (const session of asked) {
      try {
        session.sendMessage(ask)
      } catch (err: any) {
        this.init.log('asking %p for its peers failed - %e', session.remotePeer, err)
      }
    }
  }

  private timesOf (session: ChatSession): ExchangeTimes {
    let times = this.times.get(session)

    if (times == null) {
      times = { peersAt: -Infinity }
      this.times.set(session, times)
    }

    return times
  }

  /** Whether the peer's DISC_PEERS is taken now (and stamped) */
  private due (session: ChatSession, which: keyof ExchangeTimes): boolean {
    const times = this.timesOf(session)
    const now = Date.now()

    if (now - times[which] < this.interval) {
      return false
    }

    times[which] = now
    return true
  }
}
