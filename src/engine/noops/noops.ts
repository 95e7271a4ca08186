import { peerIdFromString } from '@libp2p/peer-id'
import { raceSignal } from 'race-signal'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { CATCH_UP_WAIT, DISTRUST_TIME, FLUSH_TIMEOUT, MAX_DISTRUST_TIME, SEQUENCER_BLOCK_WAIT, SEQUENCER_REFUSAL_TIME, SEQUENCER_REFUSALS, SEQUENCER_TIMEOUT } from '../../constants.js'
import { BlockOutOfOrderError, blockHash, sha256Of } from '../../ledger.js'
import { createMessage, timestampNow } from '../../message.js'
import { Block, Message, PeerEndpoint, Response, SyncBlocks, Transaction } from '../../pb/fabric.js'
import { response } from '../../transaction/transaction-protocol.js'
import { CatchUp, InvalidBlockError } from './catch-up.js'
import { executeBlock, queryKey, stateHashOf, stateKeyOf } from './chaincode.js'
import type { ChatSender } from '../../chat/chat-stream.js'
import type { ChatClosedEvent, ChatEstablishedEvent, Engine, FabricPeer, HandlerFactory, MessageHandler } from '../../index.js'
import type { DatastoreLedger } from '../../ledger.js'
import type { StateDelta } from '../../pb/fabric.js'
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
  /**
   * A forwarded transaction's sequencer must answer within this, in ms, and
   * its block must then reach our ledger within SEQUENCER_BLOCK_WAIT, or it
   * is passed over for DISTRUST_TIME and the next validator in order is
   * asked. Keep it well under the callers' transactionTimeout.
   *
   * @default 4000 (SEQUENCER_TIMEOUT)
   */
  sequencerTimeout?: number
}

/** See NoopsEngineInit.settleTime */
const SETTLE_TIME = 0

/** What `usage()` reports: how the engine sees the network now */
export interface NoopsUsage {
  height: number
  /** The sequencer this validator forwards to; undefined when it is itself */
  sequencer?: string
  /** Peers passed over now, and why */
  distrusted: Array<{ peer: string, why: string, until: number }>
  /** A claim of a longer chain is being checked */
  catchingUp: boolean
  /** Blocks appended by catching up since start */
  caughtUp: number
  /** The last catch-up that appended blocks: how many, and how long it ran (ms) */
  lastCatchUp?: { blocks: number, ms: number }
}

/**
 * A reference engine in the spirit of Fabric v0.6's `noops` consensus: no
 * fault tolerance, but every validator ends with the same blocks in the same
 * order, and no single peer can halt, fork or hijack it (docs/noops.md has
 * the rules, and what a peer claiming VALIDATOR can still do in open mode).
 *
 * The sequencer is the validator with the smallest PeerId among this one and
 * the validators it chats with and trusts: it executes each transaction in a
 * block of its own, sends the block to the validators as a CONSENSUS message
 * carrying a `SyncBlocks`, appends it, then answers SUCCESS. The others
 * forward transactions to it and answer SUCCESS only once the block is in
 * their own ledger; a sequencer that does not answer, or whose block does not
 * come, is passed over. A block is appended only from the sequencer (or by
 * catching up, see {@link CatchUp}), only if it extends the chain and its
 * state hash is what executing it gives.
 */
export class NoopsEngine implements Engine {
  readonly ledger: DatastoreLedger
  private readonly log: Logger
  private peer?: FabricPeer
  private readonly settleTime: number
  private readonly sequencerTimeout: number
  private startedAt = 0
  /** Ordering and receiving blocks both append: one at a time */
  private work: Promise<unknown> = Promise.resolve()
  /** The state hash of our last block: the next block's must chain from it */
  private stateHash: Uint8Array = new Uint8Array(0)
  private readonly distrusted = new Map<string, { until: number, why: string, time: number }>()
  /** How long each peer was last distrusted for, and until when (doubled at each failure soon after) */
  private readonly distrustTimes = new Map<string, { time: number, until: number }>()
  /** Sequencers' refusals in a row, by peer, and when the run of them began */
  private readonly refusals = new Map<string, { count: number, since: number }>()
  /** Forwarded transactions waiting for their block in our ledger */
  private readonly waiting = new Map<string, Set<() => void>>()
  /** Validators that did not take a block within FLUSH_TIMEOUT: not waited for again until they have */
  private readonly slow = new Set<string>()
  private readonly catchUp: CatchUp
  private readonly onEstablished: (evt: CustomEvent<ChatEstablishedEvent>) => void
  private readonly onClosed: (evt: CustomEvent<ChatClosedEvent>) => void

  constructor (init: NoopsEngineInit) {
    this.ledger = init.ledger
    this.log = init.logger.forComponent('libp2p:fabric:noops')
    this.settleTime = init.settleTime ?? SETTLE_TIME
    this.sequencerTimeout = init.sequencerTimeout ?? SEQUENCER_TIMEOUT
    this.catchUp = new CatchUp({
      ledger: this.ledger,
      log: this.log,
      sequencer: () => this.sequencer(),
      trusted: (peer) => this.trusted(peer),
      remoteLedger: (peer) => this.started().getRemoteLedger(peer),
      apply: async (from, start, blocks) => this.apply(from, start, blocks),
      distrust: (peer, why) => { this.distrust(peer, why) }
    })
    this.onClosed = (evt) => {
      // a claim lasts as long as the chat that made it (a peer that comes back says hello again):
      // the claims held are bounded by the chats
      this.catchUp.drop(evt.detail.peerId)
      this.slow.delete(evt.detail.peerId.toString())
      this.refusals.delete(evt.detail.peerId.toString())
      this.pruneDistrust()
    }
    this.onEstablished = (evt) => {
      // only a validator's height counts, and only as a claim to check
      if (evt.detail.endpoint.type === PeerEndpoint.Type.VALIDATOR) {
        const info = evt.detail.blockchainInfo
        this.catchUp.claim(evt.detail.peerId, info?.height ?? 0, info?.currentBlockHash)
      }
    }
  }

  async start (peer: FabricPeer): Promise<void> {
    this.peer = peer
    this.startedAt = Date.now()
    const height = this.ledger.height
    this.stateHash = height === 0 ? new Uint8Array(0) : (await this.ledger.getBlock(height - 1))?.stateHash ?? new Uint8Array(0)
    peer.addEventListener('peer:established', this.onEstablished)
    peer.addEventListener('peer:closed', this.onClosed)
  }

  stop (): void {
    this.peer?.removeEventListener('peer:established', this.onEstablished)
    this.peer?.removeEventListener('peer:closed', this.onClosed)
    this.catchUp.stop()
  }

  /** How the engine sees the network now */
  usage (): NoopsUsage {
    const now = Date.now()
    return {
      height: this.ledger.height,
      sequencer: this.peer == null ? undefined : this.sequencer()?.toString(),
      distrusted: [...this.distrusted].filter(([, d]) => d.until > now).map(([peer, d]) => ({ peer, why: d.why, until: d.until })),
      catchingUp: this.catchUp.active,
      caughtUp: this.catchUp.appended,
      lastCatchUp: this.catchUp.last
    }
  }

  /** The sequencer this validator would send transactions to: the smallest trusted validator; undefined when it is itself */
  sequencer (): PeerId | undefined {
    const peer = this.started()
    let best: PeerId | undefined
    let bestBytes = peerIdFromString(peer.getPeerEndpoint().ID?.name ?? '').toMultihash().bytes

    for (const id of this.validators()) {
      const bytes = id.toMultihash().bytes

      if (uint8ArrayCompare(bytes, bestBytes) < 0) {
        best = id
        bestBytes = bytes
      }
    }

    return best
  }

  async processTransactionMessage (msg: Message, tx: Transaction): Promise<Response> {
    if (tx.type === Transaction.Type.CHAINCODE_QUERY) {
      return this.query(tx)
    }

    const held = await this.ledger.findTransaction(tx.txid)

    if (held != null) {
      return response(Response.StatusCode.FAILURE, `transaction ${tx.txid} is already in block ${held}: a txid is used once`)
    }

    // each attempt passes over the sequencer that failed it: at most one per validator, then ourselves
    const failures: string[] = []
    const attempts = this.validators().length + 1

    for (let attempt = 0; attempt < attempts; attempt++) {
      const sequencer = this.sequencer()

      if (sequencer == null) {
        return this.order(tx)
      }

      const outcome = await this.forward(sequencer, tx)

      if (outcome.done != null) {
        return outcome.done
      }

      failures.push(outcome.failed as string)
    }

    return response(Response.StatusCode.FAILURE, `no sequencer took transaction ${tx.txid}: ${failures.join('; ')}`)
  }

  getHandlerFactory (): HandlerFactory {
    return (coordinator, chat) => new NoopsHandler(this, chat)
  }

  /** A CONSENSUS message: a new block, taken only from the sequencer */
  async receiveConsensus (chat: ChatSender, msg: Message): Promise<void> {
    const from = chat.remotePeer

    if (chat.remoteEndpoint?.type !== PeerEndpoint.Type.VALIDATOR || !this.trusted(from) || !from.equals(this.sequencer())) {
      this.log('ignored a CONSENSUS block from %p: not our sequencer', from)
      return
    }

    let sync: SyncBlocks

    try {
      sync = SyncBlocks.decode(msg.payload, { limits: { blocks: 1 } })
    } catch (err: any) {
      this.distrust(from, `undecodable CONSENSUS: ${err.message}`)
      return
    }

    const start = sync.range?.start ?? 0
    const block = sync.blocks[0]

    if (block == null) {
      return
    }

    if (start > this.ledger.height) {
      // a block ahead of us: we missed some; a claim to check, not a block to keep
      this.catchUp.claim(from, start + 1, await blockHash(block))
      return
    }

    if (start < this.ledger.height) {
      // one we hold: it must be ours, or the chains have parted
      const ours = await this.ledger.getEncodedBlock(start)

      if (ours != null && !uint8ArrayEquals(await sha256Of(ours), await blockHash(block))) {
        this.warn(`noops: fork - the sequencer ${from}'s block ${start} is not the block ${start} we hold; this validator's chain has parted from the sequencer's and is not repaired`)
      }

      return
    }

    try {
      await this.apply(from, start, [block])
    } catch (err: any) {
      this.distrust(from, err.message)
    }
  }

  /**
   * Verify and append blocks numbered from `start`: those we have are
   * skipped, a gap stops (0 appended), and every block must extend the chain
   * and carry the state hash executing it gives.
   *
   * @throws {InvalidBlockError}
   */
  async apply (from: PeerId, start: number, blocks: Block[]): Promise<number> {
    return this.serially(async () => {
      const height = this.ledger.height

      if (start > height) {
        // a gap: what comes before it is asked for again
        return 0
      }

      const batch: Array<{ block: Block, delta: StateDelta, encoded: Uint8Array, hash: Uint8Array }> = []
      let stateHash = this.stateHash
      let previous: Uint8Array = this.ledger.getBlockchainInfo().currentBlockHash

      for (let i = height - start; i < blocks.length; i++) {
        const block = blocks[i]

        if (!uint8ArrayEquals(block.previousBlockHash, previous)) {
          throw new InvalidBlockError(`block ${start + i} from ${from} does not extend our chain (a fork, or a forgery)`)
        }

        const delta = executeBlock(block)
        const expected = await stateHashOf(stateHash, delta)

        if (!uint8ArrayEquals(expected, block.stateHash)) {
          throw new InvalidBlockError(`block ${start + i} from ${from} does not carry the state hash executing it gives`)
        }

        // encoded once: hashed for the chain and stored as it is
        const encoded = Block.encode(block)
        const hash = await sha256Of(encoded)
        batch.push({ block, delta, encoded, hash })
        stateHash = expected
        previous = hash
      }

      if (batch.length === 0) {
        return 0
      }

      try {
        await this.ledger.appendBlocks(batch)
      } catch (err: any) {
        if (err instanceof BlockOutOfOrderError) {
          throw new InvalidBlockError(`blocks ${height}-${height + batch.length - 1} from ${from} do not extend our chain (a fork, or a forgery)`)
        }

        throw err
      }

      this.stateHash = stateHash
      this.appended(batch.map(b => b.block))
      return batch.length
    })
  }

  /** Answer a query from our world state; it is not ordered and appends nothing */
  private async query (tx: Transaction): Promise<Response> {
    const key = queryKey(tx)

    if (key == null) {
      return response(Response.StatusCode.FAILURE, 'a query\'s payload is the key to read, as UTF-8 text')
    }

    const value = await this.ledger.getState(stateKeyOf(tx, key))
    return { status: Response.StatusCode.SUCCESS, msg: (value ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer> }
  }

  /** Forward to the sequencer; `done` when it is settled, `failed` when the sequencer is passed over */
  private async forward (sequencer: PeerId, tx: Transaction): Promise<{ done?: Response, failed?: string }> {
    let answer: Response
    // the sequencer we ask may itself be waiting on a validator that sorts
    // before it and that we have passed over already (it has not, yet): give
    // it time to pass that one over too, rather than pass over an honest
    // sequencer for the silence of another and end with two
    const timeout = this.sequencerTimeout * (1 + this.sortingBefore(sequencer))

    try {
      answer = await this.started().sendTransactionToPeer(sequencer, tx, { signal: AbortSignal.timeout(timeout) })
    } catch (err: any) {
      this.distrust(sequencer, `it did not answer transaction ${tx.txid} within ${timeout}ms: ${err.message}`)
      return { failed: `${sequencer}: ${err.message}` }
    }

    if (answer.status !== Response.StatusCode.SUCCESS) {
      const run = this.refusals.get(sequencer.toString()) ?? { count: 0, since: Date.now() }
      run.count++
      this.refusals.set(sequencer.toString(), run)

      if (run.count >= SEQUENCER_REFUSALS && Date.now() - run.since >= SEQUENCER_REFUSAL_TIME) {
        // a sequencer that refuses everything halts the network as surely as a
        // silent one; one that refuses for a moment (catching up) is waited for
        this.distrust(sequencer, `it refused every transaction (${run.count}) for ${Math.round((Date.now() - run.since) / 1000)} s`)
      }

      return { done: answer }
    }

    // a run of refusals ends only with a transaction taken: a sequencer that
    // makes blocks of its own but refuses ours is still refusing
    this.refusals.delete(sequencer.toString())

    // SUCCESS means the transaction is in our own ledger, not that the sequencer says so
    const number = await this.waitForTransaction(tx.txid, SEQUENCER_BLOCK_WAIT)

    if (number == null) {
      this.distrust(sequencer, `it answered SUCCESS for ${tx.txid} but no block of it reached us within ${SEQUENCER_BLOCK_WAIT}ms`)
      return { failed: `${sequencer}: its block for ${tx.txid} never came` }
    }

    return { done: response(Response.StatusCode.SUCCESS, `transaction ${tx.txid} is block ${number}`) }
  }

  /**
   * Sequence a transaction: a block of its own, sent to every validator and
   * handed to their streams, then appended here, then acknowledged. So a
   * SUCCESS means the other validators have the block even if this process is
   * killed the moment after; and a sequencer killed before it acknowledged
   * comes back behind them (and catches up), never ahead with a block they lack.
   */
  private async order (tx: Transaction): Promise<Response> {
    // a claim waiting for its claimer's trust to return is checked again now
    this.catchUp.check()

    if (this.catchUp.active) {
      // a claim of a longer chain is being checked: ordering now could fork from it
      try {
        await this.catchUp.idle(AbortSignal.timeout(CATCH_UP_WAIT))
      } catch {}
    }

    return this.serially(async () => {
      const refusal = this.cannotSequence()

      if (refusal != null) {
        return response(Response.StatusCode.FAILURE, `${refusal}; try again`)
      }

      const held = await this.ledger.findTransaction(tx.txid)

      if (held != null) {
        return response(Response.StatusCode.FAILURE, `transaction ${tx.txid} is already in block ${held}: a txid is used once`)
      }

      const number = this.ledger.height
      const delta = executeBlock({ transactions: [tx] } as unknown as Block)
      const stateHash = await stateHashOf(this.stateHash, delta)
      const block: Block = {
        version: 0,
        timestamp: timestampNow(),
        transactions: [tx],
        stateHash: stateHash as Uint8Array<ArrayBuffer>,
        previousBlockHash: this.ledger.getBlockchainInfo().currentBlockHash,
        consensusMetadata: new Uint8Array(0)
      }

      await this.send(number, block)
      await this.ledger.append(block, delta)
      this.stateHash = stateHash
      this.appended([block])

      return response(Response.StatusCode.SUCCESS, `transaction ${tx.txid} is block ${number}`)
    })
  }

  /** Send a new block to the validators and wait (bounded) until it is on their streams */
  private async send (number: number, block: Block): Promise<void> {
    const peer = this.started()
    const { sent } = peer.broadcast(createMessage(Message.Type.CONSENSUS, SyncBlocks.encode({
      range: { correlationId: 0, start: number, end: number },
      blocks: [block]
    })), PeerEndpoint.Type.VALIDATOR)

    // a validator that was slow last time is not waited for (one that does
    // not read cannot slow every block down); it catches up if it misses one
    const waits = sent.map(async validator => {
      const key = validator.toString()
      const flushed = peer.flush(validator, { signal: AbortSignal.timeout(10 * FLUSH_TIMEOUT) })
        .then(() => { this.slow.delete(key) }, () => {})

      if (!this.slow.has(key)) {
        try {
          await raceSignal(flushed, AbortSignal.timeout(FLUSH_TIMEOUT))
        } catch {
          this.slow.add(key)
        }
      }
    })

    await Promise.all(waits)
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

    if (this.catchUp.active) {
      return `catching up: at height ${this.ledger.height}, checking a validator's claim of ${this.catchUp.target}`
    }

    // a majority of the validators it knows of, itself included, in its chats:
    // two sequencers cut off from each other cannot both have one. Distrusted
    // validators count as present: counting only trusted ones would let a peer
    // halt sequencing by making a few identities fail on purpose. Known means
    // confirmed: by its own hello (kept across restarts) or by the user; a
    // role that only gossip gives is a hint, or one DISC_PEERS naming a
    // validator that is not there would halt a lone validator
    let known = 1
    for (const node of peer.discovery.values()) {
      if (node.type === PeerEndpoint.Type.VALIDATOR && node.typeConfirmed) known++
    }
    const chats = 1 + peer.getPeers().peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).length
    known = Math.max(known, chats)

    if (chats * 2 <= known) {
      return `no majority: chats with ${chats - 1} of the ${known - 1} other validators it knows`
    }

    return undefined
  }

  /** Validators we chat with, trusted or not, whose PeerIds sort before `peer` */
  private sortingBefore (peer: PeerId): number {
    const bytes = peer.toMultihash().bytes
    let before = 0

    for (const endpoint of this.started().getPeers().peers) {
      if (endpoint.type === PeerEndpoint.Type.VALIDATOR && endpoint.ID != null &&
          uint8ArrayCompare(peerIdFromString(endpoint.ID.name).toMultihash().bytes, bytes) < 0) {
        before++
      }
    }

    return before
  }

  /** Validators we chat with and trust now */
  private validators (): PeerId[] {
    const ids: PeerId[] = []

    for (const endpoint of this.started().getPeers().peers) {
      if (endpoint.type !== PeerEndpoint.Type.VALIDATOR || endpoint.ID == null) {
        continue
      }

      const id = peerIdFromString(endpoint.ID.name)

      if (this.trusted(id)) {
        ids.push(id)
      }
    }

    return ids
  }

  private trusted (peer: PeerId): boolean {
    const entry = this.distrusted.get(peer.toString())

    if (entry == null) return true
    if (entry.until > Date.now()) return false

    this.distrusted.delete(peer.toString())
    return true
  }

  /** `peer` failed us: pass it over (as sequencer, as a source of blocks and claims) for DISTRUST_TIME */
  private distrust (peer: PeerId, why: string): void {
    if (!this.trusted(peer)) {
      return
    }

    // a peer that fails again soon after its last time is passed over for longer
    const last = this.distrustTimes.get(peer.toString())
    const time = last != null && Date.now() - last.until < 2 * last.time ? Math.min(2 * last.time, MAX_DISTRUST_TIME) : DISTRUST_TIME
    const until = Date.now() + time
    this.distrustTimes.set(peer.toString(), { time, until })
    this.distrusted.set(peer.toString(), { until, why, time })
    this.refusals.delete(peer.toString())
    this.warn(`noops: passing over ${peer} for ${Math.round(time / 1000)}s: ${why}`)
  }

  /** Forget distrust records long over (their doubling no longer applies): the maps stay bounded by the peers that failed us recently */
  private pruneDistrust (): void {
    const now = Date.now()

    for (const [key, last] of this.distrustTimes) {
      if (now - last.until >= 2 * last.time) {
        this.distrustTimes.delete(key)
        this.distrusted.delete(key)
      }
    }
  }

  /** Logged, and a `warning` event for operators */
  private warn (message: string): void {
    this.log(message)
    this.peer?.safeDispatchEvent('warning', { detail: { message } })
  }

  /** Wake forwarded transactions whose blocks have arrived */
  private appended (blocks: Block[]): void {
    if (this.waiting.size === 0) return

    for (const block of blocks) {
      for (const tx of block.transactions) {
        const waiters = this.waiting.get(tx.txid)

        if (waiters != null) {
          this.waiting.delete(tx.txid)
          waiters.forEach(wake => { wake() })
        }
      }
    }
  }

  /** The block that holds `txid` once it is in our ledger, or undefined after `ms` */
  private async waitForTransaction (txid: string, ms: number): Promise<number | undefined> {
    const { promise, resolve } = Promise.withResolvers<void>()
    const waiters = this.waiting.get(txid) ?? new Set()
    waiters.add(resolve)
    this.waiting.set(txid, waiters)
    const timer = setTimeout(resolve, ms)

    try {
      // it may have come before we started waiting
      const held = await this.ledger.findTransaction(txid)
      if (held != null) return held
      await promise
      return await this.ledger.findTransaction(txid)
    } finally {
      clearTimeout(timer)
      waiters.delete(resolve)
      if (waiters.size === 0 && this.waiting.get(txid) === waiters) this.waiting.delete(txid)
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

/** One chat's view of the engine: CONSENSUS blocks in (RemoteLedger requests are the peer layer's) */
class NoopsHandler implements MessageHandler {
  private readonly engine: NoopsEngine
  private readonly chat: ChatSender

  constructor (engine: NoopsEngine, chat: ChatSender) {
    this.engine = engine
    this.chat = chat
  }

  async handleMessage (msg: Message): Promise<void> {
    if (msg.type === Message.Type.CONSENSUS) {
      await this.engine.receiveConsensus(this.chat, msg)
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
