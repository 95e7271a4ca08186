import { peerIdFromString } from '@libp2p/peer-id'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { MAX_BLOCKS_PER_SYNC, MAX_PENDING_BLOCKS } from '../constants.js'
import { BlockOutOfOrderError } from '../ledger.js'
import { createMessage, timestampNow } from '../message.js'
import { Message, PeerEndpoint, Response, SyncBlockRange, SyncBlocks } from '../pb/fabric.js'
import { response } from '../transaction/transaction-protocol.js'
import type { ChatSender } from '../chat/chat-stream.js'
import type { ChatEstablishedEvent, Engine, FabricPeer, HandlerFactory, MessageHandler } from '../index.js'
import type { DatastoreLedger } from '../ledger.js'
import type { Block, Transaction } from '../pb/fabric.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'

export interface NoopsEngineInit {
  /** Where blocks are appended */
  ledger: DatastoreLedger
  logger: ComponentLogger
  /**
   * After it starts, a validator does not sequence for this long, in ms: time
   * for the touch loop to rebuild its chats, so the others learn it is back
   * (and forward to it) before it orders anything, rather than two sequencers
   * ordering at once. About twice the touch period suits a network whose
   * validators restart; 0 (the default) sequences at once.
   *
   * @default 0
   */
  settleTime?: number
}

/** See NoopsEngineInit.settleTime */
const SETTLE_TIME = 0

/** How long the sequencer waits for a block to reach the validators' streams before it goes on without one */
const FLUSH_TIMEOUT = 5_000

/**
 * A reference engine in the spirit of Fabric v0.6's `noops` consensus: no
 * fault tolerance, but every validator ends with the same blocks in the same
 * order. The sequencer is the validator with the smallest PeerId among a
 * validator and the validators it chats with (in a full mesh they all agree):
 * it puts each transaction in a block of its own, appends it, and sends it to
 * the validators as a CONSENSUS message carrying a `SyncBlocks`. Other
 * validators forward transactions to it, append blocks strictly in number
 * order, and catch up with SYNC_GET_BLOCKS / SYNC_BLOCKS from any validator
 * that is ahead (as a restarted validator must). It is a demonstration of the
 * engine extension point, not PBFT: while validators disagree on who the
 * sequencer is (a mesh still forming, a partition) their chains can fork, and
 * the fork is reported, not repaired.
 */
export class NoopsEngine implements Engine {
  readonly ledger: DatastoreLedger
  private readonly log: Logger
  private peer?: FabricPeer
  private readonly pending = new Map<number, Block>()
  /** The longest chain a validator has told us of: we do not sequence until we have caught up with it */
  private highestSeen = 0
  private readonly settleTime: number
  private startedAt = 0
  /** Ordering and receiving blocks both append: one at a time */
  private work: Promise<unknown> = Promise.resolve()
  private readonly onEstablished: (evt: CustomEvent<ChatEstablishedEvent>) => void

  constructor (init: NoopsEngineInit) {
    this.ledger = init.ledger
    this.log = init.logger.forComponent('libp2p:fabric:noops')
    this.settleTime = init.settleTime ?? SETTLE_TIME
    this.onEstablished = (evt) => {
      const theirs = evt.detail.blockchainInfo?.height ?? 0

      if (evt.detail.endpoint.type === PeerEndpoint.Type.VALIDATOR && theirs > this.ledger.height) {
        this.highestSeen = Math.max(this.highestSeen, theirs)
        this.requestBlocks(evt.detail.peerId, this.ledger.height, theirs - 1)
      }
    }
  }

  start (peer: FabricPeer): void {
    this.peer = peer
    this.startedAt = Date.now()
    peer.addEventListener('peer:established', this.onEstablished)
  }

  stop (): void {
    this.peer?.removeEventListener('peer:established', this.onEstablished)
  }

  /** The sequencer this validator would send transactions to; undefined when it is itself */
  sequencer (): PeerId | undefined {
    const peer = this.started()
    let best: PeerId | undefined
    let bestBytes = peerIdFromString(peer.getPeerEndpoint().ID?.name ?? '').toMultihash().bytes

    for (const endpoint of peer.getPeers().peers) {
      if (endpoint.type !== PeerEndpoint.Type.VALIDATOR || endpoint.ID == null) {
        continue
      }

      const id = peerIdFromString(endpoint.ID.name)
      const bytes = id.toMultihash().bytes

      if (uint8ArrayCompare(bytes, bestBytes) < 0) {
        best = id
        bestBytes = bytes
      }
    }

    return best
  }

  async processTransactionMessage (msg: Message, tx: Transaction): Promise<Response> {
    const sequencer = this.sequencer()

    if (sequencer == null) {
      return this.order(tx)
    }

    try {
      // the sequencer has a smaller PeerId than us, so forwarding never loops
      return await this.started().sendTransactionToPeer(sequencer, tx)
    } catch (err: any) {
      return response(Response.StatusCode.FAILURE, `the sequencer ${sequencer} did not take transaction ${tx.txid}: ${err.message}`)
    }
  }

  getHandlerFactory (): HandlerFactory {
    return (coordinator, chat) => new NoopsHandler(this, chat)
  }

  /** Blocks from a peer, starting at number `start`: append what extends the chain, keep what is ahead */
  async receiveBlocks (from: PeerId, start: number, blocks: Block[]): Promise<void> {
    await this.serially(async () => {
      blocks.forEach((block, i) => {
        const n = start + i
        this.highestSeen = Math.max(this.highestSeen, n + 1)

        if (n >= this.ledger.height && this.pending.size < MAX_PENDING_BLOCKS) {
          this.pending.set(n, block)
        }
      })

      while (this.pending.has(this.ledger.height)) {
        const n = this.ledger.height
        const block = this.pending.get(n) as Block
        this.pending.delete(n)

        try {
          await this.ledger.append(block)
        } catch (err: any) {
          if (!(err instanceof BlockOutOfOrderError)) throw err
          this.log.error('block %d from %p does not follow our chain (a fork: two sequencers) - dropped', n, from)
        }
      }

      for (const n of this.pending.keys()) {
        if (n < this.ledger.height) this.pending.delete(n)
      }

      const next = Math.min(...this.pending.keys())

      if (Number.isFinite(next) || blocks.length >= MAX_BLOCKS_PER_SYNC) {
        // a gap before what we hold, or a full sync answer: ask for more
        this.requestBlocks(from, this.ledger.height, Number.isFinite(next) ? next - 1 : this.ledger.height + MAX_BLOCKS_PER_SYNC - 1)
      }
    })
  }

  /** Answer a SYNC_GET_BLOCKS with up to MAX_BLOCKS_PER_SYNC blocks */
  async serveBlocks (chat: ChatSender, range: SyncBlockRange): Promise<void> {
    // a peer that does not read its answers gets no more work done for it:
    // this chat's later messages wait (its stream pauses) until there is room,
    // or until the peer is dropped for not reading
    try {
      await chat.onDrain()
    } catch {
      return
    }

    const end = Math.min(range.end, range.start + MAX_BLOCKS_PER_SYNC - 1, this.ledger.height - 1)
    const blocks: Block[] = []

    for (let n = range.start; n <= end; n++) {
      const block = await this.ledger.getBlock(n)
      if (block == null) break
      blocks.push(block)
    }

    chat.send(createMessage(Message.Type.SYNC_BLOCKS, SyncBlocks.encode({
      range: { correlationId: range.correlationId, start: range.start, end: range.start + blocks.length - 1 },
      blocks
    })))
  }

  /**
   * Sequence a transaction: a block of its own, sent to every validator and
   * handed to their streams, then appended here, then acknowledged. So a
   * SUCCESS means the other validators have the block even if this process is
   * killed the moment after; and a sequencer killed before it acknowledged
   * comes back behind them (and catches up), never ahead with a block they lack.
   */
  private async order (tx: Transaction): Promise<Response> {
    return this.serially(async () => {
      const refusal = this.cannotSequence()

      if (refusal != null) {
        return response(Response.StatusCode.FAILURE, `${refusal}; try again`)
      }

      const number = this.ledger.height
      const block: Block = {
        version: 0,
        timestamp: timestampNow(),
        transactions: [tx],
        stateHash: new Uint8Array(0),
        previousBlockHash: this.ledger.getBlockchainInfo().currentBlockHash,
        consensusMetadata: new Uint8Array(0)
      }

      const peer = this.started()
      const { sent } = peer.broadcast(createMessage(Message.Type.CONSENSUS, SyncBlocks.encode({
        range: { correlationId: 0, start: number, end: number },
        blocks: [block]
      })), PeerEndpoint.Type.VALIDATOR)
      // a validator that does not take it within the bound catches up later with SYNC_GET_BLOCKS
      await Promise.allSettled(sent.map(async p => peer.flush(p, { signal: AbortSignal.timeout(FLUSH_TIMEOUT) })))
      await this.ledger.append(block)

      return response(Response.StatusCode.SUCCESS, `transaction ${tx.txid} is block ${number}`)
    })
  }

  /**
   * Why this validator must not sequence now, if it must not: no fault
   * tolerance, but no fork from the usual faults either (a sequencer restarted
   * behind the others, one cut off from most of them, two at once while the
   * mesh re-forms).
   */
  private cannotSequence (): string | undefined {
    const peer = this.started()
    const uptime = Date.now() - this.startedAt

    if (uptime < this.settleTime) {
      return `settling: started ${uptime} ms ago, sequencing after ${this.settleTime} ms`
    }

    if (this.ledger.height < this.highestSeen) {
      // blocks it has not seen were made while it was away
      return `catching up: at height ${this.ledger.height}, a validator has ${this.highestSeen}`
    }

    // a majority of the validators it knows of, itself included: two sequencers cut off from each other cannot both have one
    let known = 1
    for (const node of peer.discovery.values()) {
      if (node.type === PeerEndpoint.Type.VALIDATOR) known++
    }
    const chats = 1 + peer.getPeers().peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).length
    known = Math.max(known, chats)

    if (chats * 2 <= known) {
      return `no majority: chats with ${chats - 1} of the ${known - 1} other validators it knows`
    }

    return undefined
  }

  private requestBlocks (from: PeerId, start: number, end: number): void {
    try {
      this.started().unicast(createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: 0, start, end })), from)
    } catch (err: any) {
      this.log('could not ask %p for blocks %d-%d - %e', from, start, end, err)
    }
  }

  private async serially<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.work.then(fn)
    this.work = run.catch(() => {})
    return run
  }

  private started (): FabricPeer {
    if (this.peer == null) {
      throw new Error('The noops engine is not started: give it to fabricPeer({ engine })')
    }

    return this.peer
  }
}

/** The reference engine, on a ledger; give it to `fabricPeer({ engine })` */
export function noopsEngine (init: NoopsEngineInit): NoopsEngine {
  return new NoopsEngine(init)
}

/** One chat's view of the engine: blocks in, block requests answered */
class NoopsHandler implements MessageHandler {
  private readonly engine: NoopsEngine
  private readonly chat: ChatSender

  constructor (engine: NoopsEngine, chat: ChatSender) {
    this.engine = engine
    this.chat = chat
  }

  async handleMessage (msg: Message): Promise<void> {
    switch (msg.type) {
      case Message.Type.CONSENSUS:
      case Message.Type.SYNC_BLOCKS: {
        const sync = SyncBlocks.decode(msg.payload, { limits: { blocks: MAX_BLOCKS_PER_SYNC } })
        await this.engine.receiveBlocks(this.chat.remotePeer, sync.range?.start ?? 0, sync.blocks)
        break
      }
      case Message.Type.SYNC_GET_BLOCKS:
        await this.engine.serveBlocks(this.chat, SyncBlockRange.decode(msg.payload))
        break
      default:
        break
    }
  }

  sendMessage (msg: Message): void {
    this.chat.send(msg)
  }

  to (): PeerEndpoint {
    return this.chat.remoteEndpoint as PeerEndpoint
  }

  stop (): void {}
}
