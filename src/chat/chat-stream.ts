import { InvalidMessageError } from '@libp2p/interface'
import { pEvent } from 'p-event'
import { raceSignal } from 'race-signal'
import { CLOSE_TIMEOUT, FRAME_COST, MAX_BATCH_BYTES, MAX_MESSAGE_SIZE, MAX_MUXER_WINDOW, RECEIVE_QUEUE_SIZE, SEND_QUEUE_BYTES, SEND_QUEUE_SIZE, SEND_STALL_TIMEOUT } from '../constants.js'
import { ChatClosedError, InvalidFrameError, SendQueueFullError } from '../errors.js'
import { Message } from '../pb/fabric.js'
import { encodeFrames, encodeMessage, FrameDecoder, framedLength, MAX_PREFIX_BYTES } from './frames.js'
import type { MessageCounters } from '../metrics.js'
import type { PeerEndpoint } from '../pb/fabric.js'
import type { AbortOptions, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface ChatStreamInit {
  /** Largest frame accepted or sent, in bytes */
  maxMessageSize?: number
  /** Frames that may wait to be written before `send` throws `SendQueueFullError` */
  sendQueueSize?: number
  /** Bytes that may wait to be written before `send` throws `SendQueueFullError` */
  sendQueueBytes?: number
  /** Decoded frames buffered for the reader before the stream is paused */
  receiveQueueSize?: number
  /**
   * Bytes of decoded frames buffered for the reader before the stream is
   * paused: each frame counts at its whole encoded size plus FRAME_COST
   */
  receiveQueueBytes?: number
  /**
   * Frames decoded until `established()` is called (the hello exchange needs
   * one); unset: receiveQueueSize from the start
   */
  receiveQueueSizeBeforeHello?: number
  /** Frames waiting with nothing written for this long (ms) mean the peer has stopped reading */
  sendStallTimeout?: number
  /**
   * Called once when the peer has stopped reading (see `sendStallTimeout`):
   * found by a send that meets a full queue, whoever sends, or by a timer
   * while the queue waits for the stream to drain. The owner disconnects it.
   */
  onStall?(chat: ChatStream): void
  /** Applied to every message `send` is given (signing, when security is on) */
  signer?(msg: Message): Message
  /**
   * Where messages in and out are counted by type; the service passes one
   * when the node has a metrics component.
   *
   * @internal
   */
  counters?: MessageCounters
}

/** What an engine's handler may do with a chat: send, and know who is on the other end */
export type ChatSender = Pick<ChatStream, 'send' | 'remotePeer' | 'remoteEndpoint' | 'initiated' | 'queued' | 'writable' | 'onDrain'>

/**
 * One long-lived Chat stream with a peer: length-prefixed `Message` frames in
 * both directions.
 *
 * Writes are queued and coalesced: every frame queued in the same tick goes out
 * in one `stream.send()`, and when the stream asks us to wait (`send` returned
 * false) the queue waits for `drain`. The queue is bounded, so a peer that does
 * not read fills only its own queue.
 *
 * Reads are decoded as they arrive and buffered for the (single) async
 * iterator; when the reader falls `receiveQueueSize` frames or
 * `receiveQueueBytes` bytes behind, the stream is paused so the muxer stops
 * granting the sender window. Frames the muxer had already granted still
 * arrive while paused, so the stream's own read buffer is sized to hold them.
 */
/** Messages the reader takes at a time */
const READ_BATCH = 256

export class ChatStream implements AsyncIterable<Message> {
  readonly stream: Stream
  readonly remotePeer: PeerId
  /** True when we opened this stream */
  readonly initiated: boolean
  /** The remote's endpoint, set once its hello is accepted (`established()`) */
  remoteEndpoint?: PeerEndpoint

  private readonly log: Logger
  private readonly maxMessageSize: number
  private readonly sendQueueSize: number
  private readonly sendQueueBytes: number
  private queueBytes = 0
  /** Frames the inbox takes now: fewer before the hello exchange */
  private frameBudget: number
  private readonly receiveQueueSize: number
  private readonly receiveQueueBytes: number
  private readonly signer?: (msg: Message) => Message
  private readonly counters?: MessageCounters
  private readonly sendStallTimeout: number
  private readonly onStall?: (chat: ChatStream) => void
  /** Checks for a stall while the queue waits for drain; at most one armed */
  private stallTimer?: ReturnType<typeof setTimeout>
  private stallReported = false
  private inboxBytes = 0
  private closing = false
  private iterating = false
  private readonly decoder: FrameDecoder
  /** Decoded messages not yet taken by the reader: an array with a moving head */
  private readonly inbox: Message[] = []
  /** What each message in the inbox counts against receiveQueueBytes, by the same index */
  private readonly inboxCosts: number[] = []
  private inboxHead = 0
  private inboxEnded = false
  private inboxError?: Error
  private waiter?: PromiseWithResolvers<void>
  private readonly queue: Array<Uint8Array | Uint8ArrayList> = []
  private queueHead = 0
  private flushScheduled = false
  private waitingForDrain = false
  private paused = false
  private idle?: PromiseWithResolvers<void>
  /** Senders waiting for the queue to drain to half its bounds */
  private roomWaiters?: PromiseWithResolvers<void>
  /** When frames last left the queue for the stream */
  private lastProgress = Date.now()

  constructor (stream: Stream, remotePeer: PeerId, init: ChatStreamInit = {}) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.initiated = stream.direction === 'outbound'
    this.log = stream.log.newScope('fabric-chat')
    this.maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE
    this.sendQueueSize = init.sendQueueSize ?? SEND_QUEUE_SIZE
    this.sendQueueBytes = init.sendQueueBytes ?? SEND_QUEUE_BYTES
    this.receiveQueueSize = init.receiveQueueSize ?? RECEIVE_QUEUE_SIZE
    this.receiveQueueBytes = init.receiveQueueBytes ?? 2 * this.maxMessageSize
    this.frameBudget = init.receiveQueueSizeBeforeHello ?? this.receiveQueueSize
    this.signer = init.signer
    this.counters = init.counters
    this.sendStallTimeout = init.sendStallTimeout ?? SEND_STALL_TIMEOUT
    this.onStall = init.onStall
    this.checkStall = this.checkStall.bind(this)
    this.decoder = new FrameDecoder(this.maxMessageSize)
    // while paused the muxer still delivers the window it granted before (up to
    // MAX_MUXER_WINDOW); the stream resets if its read buffer overflows, so make
    // room for that window plus a frame in progress
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, MAX_MUXER_WINDOW + this.maxMessageSize)
    this.flush = this.flush.bind(this)

    // the muxer hands every chunk to the stream's onData, which keeps it as it
    // is while the stream is paused: small views are copied there too, so what
    // a paused stream holds is what the peer sent. onData is not part of the
    // Stream interface; where a stream has none, chunks are still copied when
    // they reach us
    const receive: unknown = (stream as { onData?: unknown }).onData
    if (typeof receive === 'function') {
      Object.defineProperty(stream, 'onData', {
        configurable: true,
        value: (data: Uint8Array | Uint8ArrayList) => { receive.call(stream, compact(data)) }
      })
    }
    stream.addEventListener('message', (evt) => {
      this.decoder.append(compact(evt.data))
      this.decodeFrames()
    })
    // 'end', not 'remoteCloseWrite': a paused stream may still hold frames the
    // peer sent before closing; 'end' fires once they have all been delivered.
    // A reset or abort also emits 'end' first: leave those to 'close', which
    // carries the error
    stream.addEventListener('end', () => {
      if (stream.status !== 'reset' && stream.status !== 'aborted') {
        this.endInbox()
      }
    })
    stream.addEventListener('close', (evt) => {
      this.endInbox(evt.error)
      clearTimeout(this.stallTimer)
      this.idle?.resolve()
      this.notifyRoom()
    })
  }

  /** Frames waiting to be written */
  get queued (): number {
    return this.queue.length - this.queueHead
  }

  /** Bytes waiting to be written */
  get queuedBytes (): number {
    return this.queueBytes
  }

  /**
   * Whether frames have been waiting with nothing written for
   * `sendStallTimeout`: the peer is not reading (its window is shut), not
   * merely slower than we write.
   */
  stalled (now = Date.now()): boolean {
    return this.queued > 0 && now - this.lastProgress > this.sendStallTimeout
  }

  /** Tell the owner, once, that the peer has stopped reading */
  private reportStall (): void {
    if (this.stallReported || this.closing) {
      return
    }

    this.stallReported = true
    this.log('%p has read nothing for %dms with %d frames waiting', this.remotePeer, this.sendStallTimeout, this.queued)
    this.onStall?.(this)
  }

  /** While waiting for drain: report a stall, or look again when one would be due */
  private checkStall (): void {
    this.stallTimer = undefined

    if (!this.waitingForDrain || this.closing) {
      return
    }

    if (this.stalled()) {
      this.reportStall()
    } else {
      this.stallTimer = setTimeout(this.checkStall, this.sendStallTimeout - (Date.now() - this.lastProgress) + 1)
    }
  }

  /** Whether frames can still be sent */
  get writable (): boolean {
    return !this.closing && this.stream.writeStatus === 'writable'
  }

  /** The queue is at most half full, by frames and by bytes */
  private get roomy (): boolean {
    return this.queued <= this.sendQueueSize / 2 && this.queueBytes <= this.sendQueueBytes / 2
  }

  /**
   * Resolves once the send queue has drained to half its bounds (at once if it
   * is there already): the way to wait after a SendQueueFullError instead of
   * retrying in a loop.
   *
   * @throws {ChatClosedError} the chat closed before there was room
   */
  async onDrain (options: AbortOptions = {}): Promise<void> {
    if (!this.writable) {
      throw new ChatClosedError(`Chat with ${this.remotePeer} is ${this.closing ? 'closing' : this.stream.writeStatus}`)
    }

    if (this.roomy) {
      return
    }

    this.roomWaiters ??= Promise.withResolvers()
    await raceSignal(this.roomWaiters.promise, options.signal)

    if (!this.writable) {
      throw new ChatClosedError(`Chat with ${this.remotePeer} closed while waiting for its send queue`)
    }
  }

  /**
   * Resolves once everything queued so far has been handed to the stream (at
   * once if nothing is queued), or the chat has closed.
   */
  async flushed (options: AbortOptions = {}): Promise<void> {
    if (this.queued === 0 || this.stream.status !== 'open') {
      return
    }

    this.idle ??= Promise.withResolvers()
    await raceSignal(this.idle.promise, options.signal)
  }

  private notifyRoom (): void {
    if (this.roomWaiters != null && (this.roomy || !this.writable)) {
      this.roomWaiters.resolve()
      this.roomWaiters = undefined
    }
  }

  /**
   * Queue a message. It is written with any others queued in the same tick.
   *
   * @throws {ChatClosedError} the stream no longer accepts writes
   * @throws {SendQueueFullError} the peer's queue is full
   */
  send (msg: Message): void {
    // refuse before encoding: a caller retrying a full queue must not pay for an
    // encode (a 1 MiB copy for a big message) on every attempt
    this.checkCapacity(msg.payload.byteLength)
    this.sendEncoded(this.encode(msg))
  }

  /** The bytes `send` would queue: the message, signed when security is on, encoded (a large payload is not copied) */
  encode (msg: Message): Uint8Array | Uint8ArrayList {
    return encodeMessage(this.signer == null ? msg : this.signer(msg))
  }

  /**
   * Queue an already encoded (and, under security, signed) `Message`: a
   * broadcast encodes once for all peers. The bytes must not be modified afterwards.
   */
  sendEncoded (encoded: Uint8Array | Uint8ArrayList): void {
    if (!this.writable) {
      throw new ChatClosedError(`Chat with ${this.remotePeer} is ${this.closing ? 'closing' : this.stream.writeStatus}`)
    }

    if (encoded.byteLength > this.maxMessageSize) {
      throw new InvalidMessageError(`Message of ${encoded.byteLength} bytes exceeds maxMessageSize ${this.maxMessageSize}`)
    }

    this.checkCapacity(encoded.byteLength)

    if (this.queued === 0) {
      // the stall clock measures how long the oldest waiting frame has waited
      this.lastProgress = Date.now()
    }

    this.queue.push(encoded)
    this.queueBytes += encoded.byteLength
    this.counters?.countSent(encoded)

    if (!this.flushScheduled && !this.waitingForDrain) {
      this.flushScheduled = true
      queueMicrotask(this.flush)
    }
  }

  /** Throws SendQueueFullError unless a frame of `bytes` (at least) fits in the send queue now */
  private checkCapacity (bytes: number): void {
    if (this.queued >= this.sendQueueSize || (this.queued > 0 && this.queueBytes + bytes > this.sendQueueBytes)) {
      if (this.counters != null) {
        this.counters.queueFull++
      }

      // the same for every sender, ours or an engine's: a peer that has
      // stopped reading is reported, one that is merely slow is not
      if (this.stalled()) {
        this.reportStall()
      }

      throw new SendQueueFullError(`Send queue to ${this.remotePeer} is full (${this.queued} frames, ${this.queueBytes} bytes)`)
    }
  }

  /**
   * The received messages, in order. A chat has one reader (the peer layer's
   * handler), so a second iterator is refused rather than left to steal frames.
   */
  [Symbol.asyncIterator] (): AsyncGenerator<Message> {
    if (this.iterating) {
      throw new Error(`Chat with ${this.remotePeer} already has a reader`)
    }

    this.iterating = true
    return this.read()
  }

  /**
   * The next received messages, in order, at most `max` of them: waits for at
   * least one; null once the peer has closed and everything was taken; throws
   * the stream's error after a reset or abort. For the chat's one reader: a
   * batch costs one wake-up where an iterator costs several promises per message.
   */
  async take (max = READ_BATCH): Promise<Message[] | null> {
    while (this.inboxHead === this.inbox.length) {
      if (this.inboxError != null) {
        throw this.inboxError
      }

      // frames that arrived while the inbox was full wait undecoded
      if (this.decodeFrames() > 0) {
        break
      }

      if (this.inboxEnded) {
        return null
      }

      this.waiter ??= Promise.withResolvers()
      await this.waiter.promise
    }

    if (this.inboxError != null) {
      throw this.inboxError
    }

    const end = Math.min(this.inbox.length, this.inboxHead + max)
    const batch = this.inbox.slice(this.inboxHead, end)

    for (let i = this.inboxHead; i < end; i++) {
      this.inboxBytes -= this.inboxCosts[i]
    }

    this.inboxHead = end

    if (this.inboxHead === this.inbox.length) {
      this.inbox.length = 0
      this.inboxCosts.length = 0
      this.inboxHead = 0
    } else if (this.inboxHead > 1024 && this.inboxHead * 2 > this.inbox.length) {
      this.inbox.splice(0, this.inboxHead)
      this.inboxCosts.splice(0, this.inboxHead)
      this.inboxHead = 0
    }

    // room again: frames that waited undecoded come in
    this.decodeFrames()

    // resume only once what waits undecoded is at most one frame: a resume
    // hands over everything the muxer buffered while paused (up to its window),
    // so undecoded bytes never exceed one window plus a frame
    if (this.paused && this.inbox.length - this.inboxHead <= this.frameBudget / 2 && this.inboxBytes <= this.receiveQueueBytes / 2 && this.decoder.buffered <= this.maxMessageSize + MAX_PREFIX_BYTES) {
      this.paused = false

      if (this.stream.readStatus === 'paused') {
        this.stream.resume()
      }
    }

    return batch
  }

  private async * read (): AsyncGenerator<Message> {
    for (let batch = await this.take(); batch != null; batch = await this.take()) {
      yield * batch
    }
  }

  private endInbox (err?: Error): void {
    if (this.inboxEnded) {
      return
    }

    this.inboxEnded = true
    this.inboxError = err
    this.waiter?.resolve()
    this.waiter = undefined
  }

  /**
   * Stop accepting messages, write what is queued, then close our side of the
   * stream. Aborts the stream if that does not finish in time (CLOSE_TIMEOUT
   * unless a signal is given).
   */
  async close (options: AbortOptions = {}): Promise<void> {
    this.closing = true
    clearTimeout(this.stallTimer)
    this.notifyRoom()
    const signal = options.signal ?? AbortSignal.timeout(CLOSE_TIMEOUT)

    try {
      if (this.queued > 0 && this.stream.status === 'open') {
        this.idle ??= Promise.withResolvers()
        await raceSignal(this.idle.promise, signal)
      }

      await this.stream.close({ signal })
    } catch (err: any) {
      this.abort(err)
    }
  }

  /** Discard everything queued and reset the stream */
  abort (err: Error): void {
    this.clearQueue()
    this.stream.abort(err)
  }

  /** The hello exchange is done: the peer's endpoint is known, and the inbox takes receiveQueueSize frames */
  established (endpoint: PeerEndpoint): void {
    this.remoteEndpoint = endpoint
    this.frameBudget = this.receiveQueueSize
  }

  /**
   * What the inbox holds: frames and the bytes they count for (each frame's
   * encoded size plus FRAME_COST), and the bytes received but not decoded
   * (ours, and those the stream buffers while paused)
   */
  get received (): { frames: number, bytes: number, undecoded: number } {
    return { frames: this.inbox.length - this.inboxHead, bytes: this.inboxBytes, undecoded: this.decoder.buffered + this.stream.readBufferLength }
  }

  /**
   * Decode buffered frames into the inbox while it has room, one frame at a
   * time: the budget is checked per frame, so a chunk of many tiny frames
   * cannot get past it. What does not fit stays undecoded, with the stream
   * paused (the muxer stops granting the peer window). Returns how many
   * frames it decoded.
   */
  private decodeFrames (): number {
    let decoded = 0

    try {
      while (this.inbox.length - this.inboxHead < this.frameBudget && this.inboxBytes < this.receiveQueueBytes && this.inboxError == null) {
        const frame = this.decoder.next()

        if (frame == null) {
          break
        }

        const msg = Message.decode(frame)

        if (this.counters != null) {
          this.counters.received[msg.type]++
        }

        const cost = frame.byteLength + FRAME_COST
        this.inboxBytes += cost
        this.inbox.push(msg)
        this.inboxCosts.push(cost)
        decoded++
      }
    } catch (err: any) {
      this.log.error('undecodable frame from %p - %e', this.remotePeer, err)
      this.abort(new InvalidFrameError(`Undecodable frame: ${err.message}`))
      return decoded
    }

    if (decoded > 0) {
      this.waiter?.resolve()
      this.waiter = undefined
    }

    if (!this.paused && (this.inbox.length - this.inboxHead >= this.frameBudget || this.inboxBytes >= this.receiveQueueBytes)) {
      this.paused = true
      // not now: this may run inside stream.resume(), which dispatches its
      // buffer and then grants the muxer window; pausing in between would be undone
      queueMicrotask(() => {
        if (this.paused && this.stream.readStatus === 'readable') {
          this.stream.pause()
        }
      })
    }

    return decoded
  }

  private flush (): void {
    this.flushScheduled = false

    while (this.queued > 0) {
      if (this.stream.writeStatus !== 'writable') {
        this.clearQueue()
        break
      }

      this.lastProgress = Date.now()

      const sent = this.stream.send(this.takeBatch())
      this.notifyRoom()

      if (!sent) {
        this.waitForDrain()
        return
      }
    }

    this.clearQueue()
    this.idle?.resolve()
    this.idle = undefined
  }

  /**
   * Wait for the stream's 'drain' event, not `stream.onDrain()`: in
   * @libp2p/utils 7.4 `onDrain()` keeps its first, resolved promise, so every
   * later call resolves at once even while the stream still needs to drain,
   * and writing on would grow the stream's write buffer without bound.
   */
  private waitForDrain (): void {
    this.waitingForDrain = true
    // one timer for many drain waits: it looks again only when a stall could be due
    this.stallTimer ??= setTimeout(this.checkStall, this.sendStallTimeout - (Date.now() - this.lastProgress) + 1)
    pEvent(this.stream, 'drain', { rejectionEvents: ['close'] }).then(() => {
      this.waitingForDrain = false
      this.flush()
    }, (err) => {
      // the stream closed while full: what was queued cannot be delivered
      this.waitingForDrain = false
      this.log('stream closed while waiting for drain - %e', err)
      this.clearQueue()
      this.idle?.resolve()
    })
  }

  /** Frames from the head of the queue, length-prefixed, up to MAX_BATCH_BYTES (at least one) */
  private takeBatch (): Uint8Array | Uint8ArrayList {
    const start = this.queueHead
    let end = start
    let bytes = 0

    while (end < this.queue.length) {
      const body = this.queue[end]
      const framed = framedLength(body)

      if (end > start && bytes + framed > MAX_BATCH_BYTES) {
        break
      }

      bytes += framed
      this.queueBytes -= body.byteLength
      end++
    }

    const batch = encodeFrames(this.queue, start, end, bytes)
    this.queueHead = end
    this.compactQueue()
    return batch
  }

  private clearQueue (): void {
    this.queue.length = 0
    this.queueHead = 0
    this.queueBytes = 0
    this.notifyRoom()
  }

  /** Drop sent frames from the front once they are most of the array (amortised O(1) dequeue) */
  private compactQueue (): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead)
      this.queueHead = 0
    }
  }
}

/**
 * A received chunk that is a small view of a larger buffer (a muxer frame in
 * a decrypted Noise message that carried the peer's bytes for other streams
 * too) is copied: kept as it is, a 1-byte chunk would hold a 64 KiB buffer
 * alive, and what the inbox counts would not be what it holds.
 */
function compact (data: Uint8Array | Uint8ArrayList): Uint8Array | Uint8ArrayList {
  if (data instanceof Uint8Array) {
    return data.byteLength * 2 < data.buffer.byteLength ? new Uint8Array(data) : data
  }

  for (const part of data) {
    if (part.byteLength * 2 < part.buffer.byteLength) {
      // one copy of the whole list, sized to its bytes
      const copy = new Uint8Array(data.byteLength)
      let offset = 0

      for (const bytes of data) {
        copy.set(bytes, offset)
        offset += bytes.byteLength
      }

      return copy
    }
  }

  return data
}
