import * as varint from 'uint8-varint'
import { TimeoutError } from '@libp2p/interface'
import { SYNC_READ_AHEAD, SYNC_VALIDATOR_TURNS, MAX_SNAPSHOT_ANSWERS, MAX_SNAPSHOT_ENTRIES_PER_FRAME, MAX_SYNC_ANSWERS, SYNC_ANSWER_STALL, MAX_SYNC_ITEMS_PER_FRAME, MAX_SYNC_RANGE, MAX_SYNC_REQUESTS_IN_FLIGHT, SYNC_ENVELOPE_RESERVE } from '../constants.js'
import { createMessage, decodePayload } from '../message.js'
import { Block, Message, StateDelta, StateEntry, SyncBlockRange, SyncStateDeltasRequest, SyncStateSnapshot, SyncStateSnapshotRequest } from '../pb/fabric.js'
import { PeerEndpoint } from '../pb/fabric.js'
import type { Ledger } from '../ledger.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'

/** What serving needs from a chat: send, and wait until what was queued has gone to the stream */
export interface AnswerChannel {
  readonly remotePeer: PeerId
  /** The peer's endpoint from its hello: validators' requests are served first */
  readonly remoteEndpoint?: PeerEndpoint
  send(msg: Message): void
  flushed(options?: AbortOptions): Promise<void>
}

export interface LedgerServerInit {
  ledger: Ledger
  maxMessageSize: number
  log: Logger
}

/** Field tags of the repeated fields packed by hand: SyncBlocks.blocks = 2, SyncStateDeltas.deltas = 2 (length-delimited) */
const TAG_RANGE = 0x0a
const TAG_ITEMS = 0x12

/**
 * The serving side of RemoteLedger (Fabric's handler answering
 * SYNC_GET_BLOCKS, SYNC_STATE_GET_SNAPSHOT and SYNC_STATE_GET_DELTAS from the
 * local ledger), for every chat of the node.
 *
 * Every request gets an answer: what the ledger has of it, split into frames
 * that fit `maxMessageSize`, then (when it has less than asked) an empty frame
 * that says so; a ledger without the method answers empty at once. A range is
 * served up to MAX_SYNC_RANGE items; a chat's requests beyond
 * MAX_SYNC_REQUESTS_IN_FLIGHT are answered empty; at most MAX_SYNC_ANSWERS
 * answers are produced at once node-wide, a chat's one at a time and chats in
 * turn (round-robin); each answer queues its next frame only when the
 * previous one has gone to the stream, and is dropped when the peer takes
 * none for SYNC_ANSWER_STALL, so a peer that does not read holds a turn for
 * at most that long and about a frame; one state snapshot is served at a
 * time node-wide (more are answered empty).
 */
export class LedgerServer {
  private readonly init: LedgerServerInit
  private readonly frameBudget: number
  /** Each chat's requests not yet answered, in order, and whether one is being answered */
  private readonly chats = new Map<AnswerChannel, { jobs: Array<(signal: AbortSignal) => Promise<void>>, held: number, queued: boolean }>()
  /** Chats with a request waiting for a turn, validators' and others': served round-robin, a request at a time, validators first */
  private readonly ready: AnswerChannel[] = []
  private readonly readyOthers: AnswerChannel[] = []
  private serving = 0
  /** Turns held by non-validators: they may not take the last SYNC_VALIDATOR_TURNS */
  private servingOthers = 0
  private snapshots = 0

  constructor (init: LedgerServerInit) {
    this.init = init
    this.frameBudget = Math.max(1024, init.maxMessageSize - SYNC_ENVELOPE_RESERVE)
  }

  /**
   * A request from a peer: answered in the background (the chat reads on).
   *
   * @throws {PeerRejectedError} when the payload does not decode
   */
  onRequest (chat: AnswerChannel, msg: Message, signal: AbortSignal): void {
    let answer: (signal: AbortSignal) => Promise<void>
    let empty: () => void

    switch (msg.type) {
      case Message.Type.SYNC_GET_BLOCKS: {
        const range = decodePayload(SyncBlockRange, msg.payload, 'SYNC_GET_BLOCKS')
        answer = async (signal) => this.answerRange(chat, Message.Type.SYNC_BLOCKS, range, async (n) => this.encodedBlock(n), signal)
        empty = () => { this.sendRangeEnd(chat, Message.Type.SYNC_BLOCKS, range.correlationId, range.start, range.end) }
        break
      }
      case Message.Type.SYNC_STATE_GET_DELTAS: {
        const range = decodePayload(SyncStateDeltasRequest, msg.payload, 'SYNC_STATE_GET_DELTAS').range ?? { correlationId: 0, start: 0, end: 0 }
        answer = async (signal) => this.answerRange(chat, Message.Type.SYNC_STATE_DELTAS, range, async (n) => this.encodedDelta(n), signal)
        empty = () => { this.sendRangeEnd(chat, Message.Type.SYNC_STATE_DELTAS, range.correlationId, range.start, range.end) }
        break
      }
      case Message.Type.SYNC_STATE_GET_SNAPSHOT: {
        const request = decodePayload(SyncStateSnapshotRequest, msg.payload, 'SYNC_STATE_GET_SNAPSHOT')
        answer = async (signal) => this.answerSnapshot(chat, request, signal)
        empty = () => { this.sendSnapshotChunk(chat, request, 0, 0, new Uint8Array(0)) }
        break
      }
      default:
        return
    }

    const state = this.chats.get(chat) ?? { jobs: [], held: 0, queued: false }

    if (state.held >= MAX_SYNC_REQUESTS_IN_FLIGHT) {
      this.init.log('%p has %d ledger requests in flight already: answering %s empty', chat.remotePeer, state.held, msg.type)
      this.trySend(chat, empty)
      return
    }

    this.chats.set(chat, state)
    state.held++
    state.jobs.push(async (turn) => {
      // a stopping node answers nothing more; a chat that closed meanwhile fails at its first send
      if (signal.aborted) return
      await answer(AbortSignal.any([signal, turn]))
    })
    this.enqueue(chat, state)
    this.pump()
  }

  private enqueue (chat: AnswerChannel, state: { jobs: unknown[], queued: boolean }): void {
    if (!state.queued && state.jobs.length > 0) {
      state.queued = true
      ;(isValidator(chat) ? this.ready : this.readyOthers).push(chat)
    }
  }

  /** The next chat to serve: validators first; others only while they leave validators their reserved turns */
  private nextChat (): AnswerChannel | undefined {
    if (this.ready.length > 0) {
      return this.ready.shift()
    }

    if (this.readyOthers.length > 0 && this.servingOthers < MAX_SYNC_ANSWERS - SYNC_VALIDATOR_TURNS) {
      return this.readyOthers.shift()
    }

    return undefined
  }

  /**
   * Give turns to waiting chats, round-robin, while fewer than
   * MAX_SYNC_ANSWERS answers run: a chat gets one answer at a time, so a peer
   * with many requests waits behind its own, not others behind it.
   */
  private pump (): void {
    while (this.serving < MAX_SYNC_ANSWERS) {
      const chat = this.nextChat()

      if (chat == null) {
        return
      }

      const state = this.chats.get(chat)
      const job = state?.jobs.shift()

      if (state == null || job == null) {
        continue
      }

      state.queued = false
      this.serving++
      const other = !isValidator(chat)
      if (other) this.servingOthers++
      const turn = new AbortController()

      void job(turn.signal)
        .catch((err: any) => {
          this.init.log('could not answer %p - %e', chat.remotePeer, err)
        })
        .finally(() => {
          this.serving--
          if (other) this.servingOthers--
          state.held--
          if (state.held === 0) this.chats.delete(chat)
          else this.enqueue(chat, state)
          this.pump()
        })
    }
  }

  /**
   * Wait until the previous frame has gone to the stream: a peer that does
   * not take our answers within SYNC_ANSWER_STALL loses this answer, so it
   * cannot hold a turn others wait for.
   */
  private async ready4next (chat: AnswerChannel, signal: AbortSignal): Promise<void> {
    const stall = AbortSignal.timeout(SYNC_ANSWER_STALL)

    try {
      await chat.flushed({ signal: AbortSignal.any([signal, stall]) })
    } catch (err) {
      if (stall.aborted && !signal.aborted) {
        throw new TimeoutError(`${chat.remotePeer} took no answer frame for ${SYNC_ANSWER_STALL}ms: answer dropped`)
      }

      throw err
    }
  }

  /** Blocks or deltas of a range, packed into frames; an empty frame for the part the ledger does not have */
  private async answerRange (chat: AnswerChannel, type: Message.Type, range: SyncBlockRange, item: (n: number) => Promise<Uint8Array | undefined>, signal: AbortSignal): Promise<void> {
    const step = range.start <= range.end ? 1 : -1
    const count = Math.min(Math.abs(range.end - range.start) + 1, MAX_SYNC_RANGE)
    const last = range.start + (count - 1) * step
    let items: Uint8Array[] = []
    let bytes = 0
    let first = range.start
    let n = range.start

    const flush = async (): Promise<void> => {
      if (items.length === 0) return
      await this.ready4next(chat, signal)
      chat.send(createMessage(type, packRange(range.correlationId, first, first + (items.length - 1) * step, items, bytes)))
      first += items.length * step
      items = []
      bytes = 0
    }

    // reads run ahead of sending, several at once (one LevelDB read at a time
    // is a thread-pool round trip each), but no more than about a frame's
    // worth at the item size seen so far
    const reads: Array<Promise<Uint8Array | undefined>> = []
    let ahead = range.start
    // (sized by the largest item read so far, so reads started before a large
    // one is seen are at most SYNC_READ_AHEAD of them)
    let largest = 0
    const readAhead = (): void => {
      const window = largest === 0 ? 1 : Math.max(1, Math.min(SYNC_READ_AHEAD, Math.floor(this.frameBudget / largest)))

      while (reads.length < window && (step > 0 ? ahead <= last : ahead >= last)) {
        reads.push(item(ahead).then(bytes => {
          largest = Math.max(largest, bytes?.byteLength ?? 1)
          return bytes
        }, () => undefined))
        ahead += step
      }
    }

    for (; step > 0 ? n <= last : n >= last; n += step) {
      readAhead()
      const encoded = await reads.shift()

      if (encoded == null || fieldLength(encoded.byteLength) > this.frameBudget) {
        // the ledger does not have it (or it could never fit a frame): the asker goes elsewhere for the rest
        this.init.log('ledger has no %s %d for %p (or it is larger than a frame)', type === Message.Type.SYNC_BLOCKS ? 'block' : 'delta', n, chat.remotePeer)
        break
      }

      if (items.length >= MAX_SYNC_ITEMS_PER_FRAME || bytes + fieldLength(encoded.byteLength) > this.frameBudget) {
        await flush()
      }

      items.push(encoded)
      bytes += fieldLength(encoded.byteLength)
    }

    await flush()

    if (first !== range.end + step) {
      // less than asked: say where it stops
      await this.ready4next(chat, signal)
      this.sendRangeEnd(chat, type, range.correlationId, first, range.end)
    }
  }

  /** The ledger's world state in chunks of encoded StateDelta entries, then an empty chunk */
  private async answerSnapshot (chat: AnswerChannel, request: SyncStateSnapshotRequest, signal: AbortSignal): Promise<void> {
    const ledger = this.init.ledger

    if (ledger.getStateSnapshot != null && this.snapshots >= MAX_SNAPSHOT_ANSWERS) {
      // a snapshot is the whole state: one is read at a time, node-wide
      this.init.log('a state snapshot is being served already: answering %p empty', chat.remotePeer)
      this.sendSnapshotChunk(chat, request, 0, 0, new Uint8Array(0))
      return
    }

    if (ledger.getStateSnapshot != null) {
      this.snapshots++

      try {
        await this.streamSnapshot(chat, request, ledger.getStateSnapshot.bind(ledger), signal)
      } finally {
        this.snapshots--
      }

      return
    }

    this.sendSnapshotChunk(chat, request, 0, 0, new Uint8Array(0))
  }

  /** The ledger's state as it reads it, chunk by chunk: only a chunk is held at a time */
  private async streamSnapshot (chat: AnswerChannel, request: SyncStateSnapshotRequest, read: NonNullable<Ledger['getStateSnapshot']>, signal: AbortSignal): Promise<void> {
    const snapshot = await read()
    let sequence = 0
    let entries: Uint8Array[] = []
    let bytes = 0

    const flush = async (): Promise<void> => {
      if (entries.length === 0) return
      await this.ready4next(chat, signal)
      this.sendSnapshotChunk(chat, request, sequence++, snapshot.blockNumber, packItems(entries, bytes))
      entries = []
      bytes = 0
    }

    for await (const entry of snapshot.entries) {
      signal.throwIfAborted()
      const encoded = StateEntry.encode(entry)

      if (fieldLength(encoded.byteLength) + 64 > this.frameBudget) {
        this.init.log.error('state key %s is larger than a frame: a snapshot cannot carry it', entry.key.slice(0, 64))
        continue
      }

      if (entries.length >= MAX_SNAPSHOT_ENTRIES_PER_FRAME || bytes + fieldLength(encoded.byteLength) + 64 > this.frameBudget) {
        await flush()
      }

      entries.push(encoded)
      bytes += fieldLength(encoded.byteLength)
    }

    await flush()
    await this.ready4next(chat, signal)
    this.sendSnapshotChunk(chat, request, sequence, snapshot.blockNumber, new Uint8Array(0))
  }

  private async encodedBlock (n: number): Promise<Uint8Array | undefined> {
    const ledger = this.init.ledger as Ledger & { getEncodedBlock?(n: number): Promise<Uint8Array | undefined> }

    if (ledger.getEncodedBlock != null) {
      // stored encoded: no decode and encode again per block served
      return ledger.getEncodedBlock(n)
    }

    const block = await ledger.getBlock?.(n)
    return block == null ? undefined : Block.encode(block)
  }

  private async encodedDelta (n: number): Promise<Uint8Array | undefined> {
    const delta = await this.init.ledger.getStateDelta?.(n)
    return delta == null ? undefined : StateDelta.encode(delta)
  }

  private sendRangeEnd (chat: AnswerChannel, type: Message.Type, correlationId: number, start: number, end: number): void {
    chat.send(createMessage(type, packRange(correlationId, start, end, [], 0)))
  }

  private sendSnapshotChunk (chat: AnswerChannel, request: SyncStateSnapshotRequest, sequence: number, blockNumber: number, delta: Uint8Array): void {
    chat.send(createMessage(Message.Type.SYNC_STATE_SNAPSHOT, SyncStateSnapshot.encode({ delta: delta as Uint8Array<ArrayBuffer>, sequence, blockNumber, request })))
  }

  private trySend (chat: AnswerChannel, send: () => void): void {
    try {
      send()
    } catch (err: any) {
      this.init.log('could not answer %p - %e', chat.remotePeer, err)
    }
  }
}

/** Bytes a length-delimited field of `length` bytes takes: tag, length prefix, body */
function fieldLength (length: number): number {
  return 1 + varint.encodingLength(length) + length
}

/**
 * A SyncBlocks or SyncStateDeltas payload from already encoded items: the
 * range (field 1) then each item as field 2, written by hand so a stored
 * block is copied once instead of decoded and encoded again.
 */
function packRange (correlationId: number, start: number, end: number, items: Uint8Array[], itemBytes: number): Uint8Array {
  const range = SyncBlockRange.encode({ correlationId, start, end })
  const out = new Uint8Array(fieldLength(range.byteLength) + itemBytes)
  let offset = writeField(out, 0, TAG_RANGE, range)

  for (const item of items) {
    offset = writeField(out, offset, TAG_ITEMS, item)
  }

  return out
}

/** A StateDelta payload (entries are field 1) from already encoded entries */
function packItems (items: Uint8Array[], itemBytes: number): Uint8Array {
  const out = new Uint8Array(itemBytes)
  let offset = 0

  for (const item of items) {
    offset = writeField(out, offset, TAG_RANGE, item)
  }

  return out
}

function writeField (out: Uint8Array, offset: number, tag: number, body: Uint8Array): number {
  out[offset++] = tag
  varint.encodeUint8Array(body.byteLength, out, offset)
  offset += varint.encodingLength(body.byteLength)
  out.set(body, offset)
  return offset + body.byteLength
}

function isValidator (chat: AnswerChannel): boolean {
  return chat.remoteEndpoint?.type === PeerEndpoint.Type.VALIDATOR
}
