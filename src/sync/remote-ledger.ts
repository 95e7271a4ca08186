import { InvalidParametersError, TimeoutError } from '@libp2p/interface'
import { raceSignal } from 'race-signal'
import { MAX_SYNC_ITEMS_PER_FRAME, MAX_SYNC_REQUESTS_IN_FLIGHT, SYNC_BUFFERED_FRAMES, SYNC_TIMEOUT } from '../constants.js'
import { ChatClosedError, InvalidSyncAnswerError } from '../errors.js'
import { createMessage, decodePayload } from '../message.js'
import { Message, SyncBlockRange, SyncBlocks, SyncStateDeltas, SyncStateDeltasRequest, SyncStateSnapshot, SyncStateSnapshotRequest } from '../pb/fabric.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'

/** Blocks or deltas `start`..`end` inclusive; `start > end` asks for them in descending order (5, 4, 3) */
export interface BlockRange {
  start: number
  end: number
}

export interface SyncRequestOptions extends AbortOptions {
  /**
   * The request fails with a `TimeoutError` when the peer sends nothing for
   * it for this long while we wait, in ms
   *
   * @default 10000 (SYNC_TIMEOUT)
   */
  timeout?: number
}

/**
 * A peer's ledger, read over the chat with it (Fabric v0.6's `RemoteLedger`:
 * `BlocksRetriever` and `StateRetriever`). Each request is an async iterable
 * of the peer's answer frames, in order; several may be in flight on one chat,
 * told apart by correlation id. An iterable ends when the whole range (or the
 * whole snapshot) has arrived, or earlier when the peer answers that it has no
 * more (an empty frame); it throws `TimeoutError` when the peer goes quiet,
 * `InvalidSyncAnswerError` when an answer does not fit the request,
 * `ChatClosedError` when the chat ends, and the signal's reason when aborted.
 * What the frames carry is the peer's word: check it before you trust it.
 */
export interface RemoteLedger {
  /** Blocks `range.start`..`range.end`; frames hold consecutive blocks, `range` naming their numbers */
  requestBlocks(range: BlockRange, options?: SyncRequestOptions): AsyncIterable<SyncBlocks>
  /** The peer's whole world state, in chunks numbered by `sequence` from 0 */
  requestStateSnapshot(options?: SyncRequestOptions): AsyncIterable<SyncStateSnapshot>
  /** The state deltas of blocks `range.start`..`range.end`, one encoded `StateDelta` per block */
  requestStateDeltas(range: BlockRange, options?: SyncRequestOptions): AsyncIterable<SyncStateDeltas>
}

type Kind = 'blocks' | 'deltas' | 'snapshot'
type Answer = SyncBlocks | SyncStateDeltas | SyncStateSnapshot

/** One request in flight: what is expected next, and answer frames the consumer has not taken */
class Pending {
  readonly kind: Kind
  readonly correlationId: number
  /** The next block number (blocks, deltas) or chunk sequence (snapshot) expected */
  next: number
  readonly end: number
  readonly step: number
  /** Quiet, in ms, after which the request (or, abandoned, its slot) is given up */
  timeout = SYNC_TIMEOUT
  blockNumber?: number
  readonly frames: Answer[] = []
  done = false
  error?: Error
  /** Given up by its consumer while the peer may still be answering: frames are checked and dropped until its last */
  abandoned = false
  /** Frees the request's slot; called once */
  release?: () => void
  drainTimer?: ReturnType<typeof setTimeout>
  private arrived?: PromiseWithResolvers<void>
  private taken?: PromiseWithResolvers<void>

  constructor (kind: Kind, correlationId: number, start: number, end: number) {
    this.kind = kind
    this.correlationId = correlationId
    this.next = start
    this.end = end
    this.step = start <= end ? 1 : -1
  }

  push (frame: Answer): Promise<void> | undefined {
    if (this.abandoned) {
      return undefined
    }

    this.frames.push(frame)
    this.wake()

    if (this.frames.length < SYNC_BUFFERED_FRAMES) {
      return undefined
    }

    // the consumer is behind: the chat waits for it (its stream pauses), so
    // what a peer sends for a slow consumer stays bounded
    this.taken ??= Promise.withResolvers()
    return this.taken.promise
  }

  finish (error?: Error): void {
    this.done = true
    this.error ??= error
    this.wake()
    this.unblock()
  }

  async take (timeout: number, signal?: AbortSignal): Promise<Answer | undefined> {
    while (this.frames.length === 0) {
      if (this.error != null) throw this.error
      if (this.done) return undefined

      this.arrived ??= Promise.withResolvers()
      const timer = AbortSignal.timeout(timeout)
      const either = signal == null ? timer : AbortSignal.any([signal, timer])

      try {
        await raceSignal(this.arrived.promise, either)
      } catch (err) {
        if (signal?.aborted === true) throw err
        throw new TimeoutError(`no answer to ${this.kind} request ${this.correlationId} for ${timeout}ms`)
      }
    }

    const frame = this.frames.shift() as Answer

    if (this.frames.length < SYNC_BUFFERED_FRAMES) {
      this.unblock()
    }

    return frame
  }

  private wake (): void {
    this.arrived?.resolve()
    this.arrived = undefined
  }

  private unblock (): void {
    this.taken?.resolve()
    this.taken = undefined
  }
}

export interface ChatRemoteLedgerInit {
  remotePeer: PeerId
  /** Queue a message on the chat */
  send(msg: Message): void
  log: Logger
}

/**
 * The asking side of RemoteLedger for one chat: sends the requests, matches
 * answer frames to them by correlation id, and checks each frame fits (the
 * numbers that come next, in the asked direction, no more than asked). A
 * frame for no request in flight (a late answer to one given up on, or a
 * peer's invention) is dropped.
 */
export class ChatRemoteLedger implements RemoteLedger {
  private readonly init: ChatRemoteLedgerInit
  private readonly pending = new Map<number, Pending>()
  private lastId = 0
  private active = 0
  private readonly slots: Array<() => void> = []
  private closed?: Error

  constructor (init: ChatRemoteLedgerInit) {
    this.init = init
  }

  async * requestBlocks (range: BlockRange, options: SyncRequestOptions = {}): AsyncGenerator<SyncBlocks> {
    checkRange(range)
    yield * this.request('blocks', range.start, range.end, (id) =>
      createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: id, start: range.start, end: range.end })), options) as AsyncGenerator<SyncBlocks>
  }

  async * requestStateDeltas (range: BlockRange, options: SyncRequestOptions = {}): AsyncGenerator<SyncStateDeltas> {
    checkRange(range)
    yield * this.request('deltas', range.start, range.end, (id) =>
      createMessage(Message.Type.SYNC_STATE_GET_DELTAS, SyncStateDeltasRequest.encode({ range: { correlationId: id, start: range.start, end: range.end } })), options) as AsyncGenerator<SyncStateDeltas>
  }

  async * requestStateSnapshot (options: SyncRequestOptions = {}): AsyncGenerator<SyncStateSnapshot> {
    yield * this.request('snapshot', 0, Number.MAX_SAFE_INTEGER, (id) =>
      createMessage(Message.Type.SYNC_STATE_GET_SNAPSHOT, SyncStateSnapshotRequest.encode({ correlationId: id })), options) as AsyncGenerator<SyncStateSnapshot>
  }

  /** Requests in flight now */
  get inFlight (): number {
    return this.pending.size
  }

  /**
   * An answer frame from the peer. Returns a promise when the request's
   * consumer is behind, so the chat reads no further until it catches up.
   *
   * @throws {PeerRejectedError} when the payload does not decode
   */
  onAnswer (msg: Message): Promise<void> | undefined {
    switch (msg.type) {
      case Message.Type.SYNC_BLOCKS: {
        const answer = decodePayload(SyncBlocks, msg.payload, 'SYNC_BLOCKS', { limits: { blocks: MAX_SYNC_ITEMS_PER_FRAME } })
        return this.ranged('blocks', answer, answer.blocks.length)
      }
      case Message.Type.SYNC_STATE_DELTAS: {
        const answer = decodePayload(SyncStateDeltas, msg.payload, 'SYNC_STATE_DELTAS', { limits: { deltas: MAX_SYNC_ITEMS_PER_FRAME } })
        return this.ranged('deltas', answer, answer.deltas.length)
      }
      case Message.Type.SYNC_STATE_SNAPSHOT: {
        const answer = decodePayload(SyncStateSnapshot, msg.payload, 'SYNC_STATE_SNAPSHOT')
        return this.chunk(answer)
      }
      default:
        return undefined
    }
  }

  /** The chat ended: every request in flight fails, and later ones at once */
  close (reason: string): void {
    this.closed ??= new ChatClosedError(`chat with ${this.init.remotePeer} closed: ${reason}`)

    for (const request of this.pending.values()) {
      request.finish(this.closed)
      this.settle(request)
    }

    this.pending.clear()

    for (const wake of this.slots.splice(0)) {
      wake()
    }
  }

  private async * request (kind: Kind, start: number, end: number, message: (id: number) => Message, options: SyncRequestOptions): AsyncGenerator<Answer> {
    const timeout = options.timeout ?? SYNC_TIMEOUT
    await this.slot(options.signal, timeout)
    const id = ++this.lastId
    const request = new Pending(kind, id, start, end)
    request.timeout = timeout
    request.release = () => {
      this.active--
      this.slots.shift()?.()
    }
    this.pending.set(id, request)

    try {
      this.init.send(message(id))

      for (let frame = await request.take(timeout, options.signal); frame != null; frame = await request.take(timeout, options.signal)) {
        yield frame
      }
    } finally {
      if (request.done || this.closed != null) {
        this.pending.delete(id)
        request.finish()
        this.settle(request)
      } else {
        // given up while the peer may still be answering: there is no cancel
        // on the wire, and the peer counts the request until it has sent its
        // last frame, so its slot is kept until then, or at most `timeout`
        // (a peer trickling frames for it cannot keep it longer); the frames
        // are checked and dropped
        request.abandoned = true
        request.frames.length = 0
        request.finish()
        this.drainLater(request, timeout)
      }
    }
  }

  /** An abandoned request's slot is freed when its last frame comes, or `timeout` after it was given up, whichever is first */
  private drainLater (request: Pending, timeout: number): void {
    clearTimeout(request.drainTimer)
    request.drainTimer = setTimeout(() => {
      this.pending.delete(request.correlationId)
      this.settle(request)
    }, timeout)
    request.drainTimer.unref?.()
  }

  /** Free a request's slot, once */
  private settle (request: Pending): void {
    clearTimeout(request.drainTimer)
    const release = request.release
    request.release = undefined
    release?.()
  }

  /** Wait for one of the MAX_SYNC_REQUESTS_IN_FLIGHT slots (a peer answers more with empty results) */
  private async slot (signal?: AbortSignal, timeout = SYNC_TIMEOUT): Promise<void> {
    const deadline = Date.now() + timeout

    while (true) {
      if (this.closed != null) throw this.closed
      signal?.throwIfAborted()

      if (this.active < MAX_SYNC_REQUESTS_IN_FLIGHT) {
        this.active++
        return
      }

      const { promise, resolve } = Promise.withResolvers<void>()
      this.slots.push(resolve)
      const timer = AbortSignal.timeout(Math.max(0, deadline - Date.now()))

      try {
        await raceSignal(promise, signal == null ? timer : AbortSignal.any([signal, timer]))
      } catch (err) {
        const at = this.slots.indexOf(resolve)
        if (at >= 0) this.slots.splice(at, 1)
        if (signal?.aborted === true) throw err
        throw new TimeoutError(`no request slot to ${this.init.remotePeer} came free within ${timeout}ms (${MAX_SYNC_REQUESTS_IN_FLIGHT} in flight)`)
      }
    }
  }

  /** A SYNC_BLOCKS or SYNC_STATE_DELTAS frame: the next `count` numbers of its request, or an empty frame that ends it */
  private ranged (kind: Kind, answer: SyncBlocks | SyncStateDeltas, count: number): Promise<void> | undefined {
    const request = this.find(kind, answer.range?.correlationId)

    if (request == null) {
      return undefined
    }

    const range = answer.range as SyncBlockRange

    if (count === 0) {
      // the peer has no more of the range: it ends here
      this.end(request)
      return undefined
    }

    const last = request.next + (count - 1) * request.step
    const beyond = request.step > 0 ? last > request.end : last < request.end

    if (range.start !== request.next || range.end !== last || beyond) {
      this.fail(request, new InvalidSyncAnswerError(`${this.init.remotePeer} answered ${kind} ${range.start}-${range.end} (${count}) where ${request.next}-${request.end} was due`))
      return undefined
    }

    request.next = last + request.step
    const wait = request.push(answer)

    if (last === request.end) {
      this.end(request)
    }

    return wait
  }

  /** A SYNC_STATE_SNAPSHOT chunk: the next sequence number, at the same block; an empty delta ends it */
  private chunk (answer: SyncStateSnapshot): Promise<void> | undefined {
    const request = this.find('snapshot', answer.request?.correlationId)

    if (request == null) {
      return undefined
    }

    request.blockNumber ??= answer.blockNumber

    if (answer.sequence !== request.next || answer.blockNumber !== request.blockNumber) {
      this.fail(request, new InvalidSyncAnswerError(`${this.init.remotePeer} sent snapshot chunk ${answer.sequence} of block ${answer.blockNumber} where chunk ${request.next} of block ${request.blockNumber} was due`))
      return undefined
    }

    request.next++
    const wait = request.push(answer)

    if (answer.delta.byteLength === 0) {
      this.end(request)
    }

    return wait
  }

  private find (kind: Kind, correlationId?: number): Pending | undefined {
    const request = correlationId == null ? undefined : this.pending.get(correlationId)

    if (request == null || request.kind !== kind || (request.done && !request.abandoned)) {
      this.init.log.trace('dropped a %s answer from %p for no request in flight (%s)', kind, this.init.remotePeer, correlationId)
      return undefined
    }

    return request
  }

  private end (request: Pending): void {
    this.pending.delete(request.correlationId)
    request.finish()

    if (request.abandoned) {
      this.settle(request)
    }
  }

  private fail (request: Pending, err: Error): void {
    this.init.log('%s', err.message)
    this.pending.delete(request.correlationId)
    request.finish(err)

    if (request.abandoned) {
      this.settle(request)
    }
  }

}

function checkRange (range: BlockRange): void {
  if (!Number.isSafeInteger(range?.start) || !Number.isSafeInteger(range?.end) || range.start < 0 || range.end < 0) {
    throw new InvalidParametersError('A block range needs start and end: whole numbers from 0')
  }
}
