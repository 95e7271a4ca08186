import { TimeoutError } from '@libp2p/interface'
import { anySignal } from 'any-signal'
import { pEvent } from 'p-event'
import { raceSignal } from 'race-signal'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { Uint8ArrayList } from 'uint8arraylist'
import { CLOSE_TIMEOUT } from '../constants.js'
import { checkHelloEndpoint } from '../endpoint.js'
import { ChatClosedError, InvalidFrameError, PeerRejectedError, SendQueueFullError } from '../errors.js'
import { createMessage } from '../message.js'
import { BlockchainInfo, HelloMessage, Message, PeersMessage } from '../pb/fabric.js'
import type { ChatStream } from './chat-stream.js'
import type { MessageHandler } from '../index.js'
import type { PeerEndpoint } from '../pb/fabric.js'
import type { Logger, PeerId } from '@libp2p/interface'

/** Whether a newly established chat is kept, and why not */
export type Registration = { kept: true } | { kept: false, reason: string }

/** What a chat needs from the service that owns it */
export interface ChatCoordinator {
  readonly helloTimeout: number
  /** Most endpoints accepted in one DISC_PEERS */
  readonly maxPeersPerMessage: number
  /** A peer's DISC_PEERS is processed, and its DISC_GET_PEERS answered, at most once per this many ms */
  readonly peerExchangeInterval: number
  /** Our hello: our endpoint and our ledger's summary */
  localHello(): Promise<HelloMessage>
  /** Our established peers (a bounded sample), for DISC_PEERS */
  peersToShare(): PeersMessage
  /** The engine's handler for a chat that has just been established, if there is an engine */
  createEngineHandler(chat: ChatStream): MessageHandler | undefined
  /** Record an established chat, unless policy or a duplicate chat says otherwise */
  register(handler: PeerHandler): Registration
  /** Forget a chat that has ended */
  deregister(handler: PeerHandler): void
  /** A message arrived on an established chat and has been handled */
  messageReceived(handler: PeerHandler, msg: Message): void
  /** Endpoints a peer sent in DISC_PEERS */
  peersReceived(handler: PeerHandler, peers: PeerEndpoint[]): void
  /** A peer broke the protocol */
  peerRejected(handler: PeerHandler, reason: string): void
  /** Security is on: messages are signed and verified */
  readonly secure: boolean
  /** Why a received message must be rejected under security (signature, freshness); undefined when it passes or security is off */
  checkMessage(pkiID: Uint8Array, msg: Message): Promise<string | undefined> | undefined
  /** Why a peer that said hello may not chat with us (membership, validator set); undefined when it may, at once when security is off */
  admitPeer(endpoint: PeerEndpoint, remotePeer: PeerId): Promise<string | undefined> | undefined
  /** Settles when another chat with the same peer that is still in its hello exchange has registered or failed */
  replacementFor(handler: PeerHandler): Promise<void>
  /** Count a message from the peer against its rate: 0 to go on, or how many ms to wait first */
  admit(handler: PeerHandler): number
  /** A peer's send queue is full or has stalled: disconnect it if it has stopped reading */
  sendQueueFull(handler: PeerHandler): void
}

export type ChatState = 'created' | 'established' | 'closed'

/** Messages handled between two yields to the event loop */
const YIELD_EVERY = 256

/** The reason given to a chat closed because the peer keeps another one with us */
export const DUPLICATE_CHAT = 'duplicate chat'

/**
 * The peer layer's own handler for one chat (Fabric's `peer.Handler`): runs the
 * hello exchange, answers DISC_GET_PEERS, takes DISC_PEERS and DISC_DISCONNECT,
 * and hands every other message to the engine's handler.
 */
export class PeerHandler implements MessageHandler {
  readonly chat: ChatStream
  readonly remotePeer: PeerId
  readonly initiated: boolean
  state: ChatState = 'created'
  /** The remote's summary of its chain, from its hello */
  blockchainInfo?: BlockchainInfo
  /** Why the chat ended, once it has */
  closeReason?: string
  /** Resolves with the remote endpoint when the hello exchange completes; rejects if the chat ends before */
  readonly established: Promise<PeerEndpoint>

  private readonly coordinator: ChatCoordinator
  private readonly log: Logger
  private readonly onEstablished: PromiseWithResolvers<PeerEndpoint>
  private engineHandler?: MessageHandler
  /** Why the chat failed, for whoever waits on `established` */
  private failure?: Error
  private endpoint?: PeerEndpoint
  private remoteDisconnected = false
  private lastPeersAt = -Infinity
  /** The peer's message-rate window, kept by the coordinator's admit() */
  rateWindowStart = 0
  rateWindowCount = 0
  /** Whether messages are handed on (false for a chat refused by policy while it drains) */
  private delivers = true
  private handled = 0
  private lastAnswerAt = -Infinity
  private closing?: Promise<void>

  constructor (coordinator: ChatCoordinator, chat: ChatStream, log: Logger) {
    this.coordinator = coordinator
    this.chat = chat
    this.remotePeer = chat.remotePeer
    this.initiated = chat.initiated
    this.log = log
    this.onEstablished = Promise.withResolvers()
    this.established = this.onEstablished.promise
    // a caller that never asks must not see an unhandled rejection
    this.established.catch(() => {})
  }

  /**
   * Run the chat to its end: hello exchange, then every message in order.
   * Never throws: protocol violations reject the peer, stream errors end the chat.
   */
  async run (signal: AbortSignal): Promise<void> {
    try {
      const endpoint = await this.exchangeHellos(signal)

      if (this.closing != null || signal.aborted) {
        // closed while the hello was in flight: never registered
        throw new ChatClosedError(`chat with ${this.remotePeer} closed during the hello exchange`)
      }

      const registration = this.coordinator.register(this)
      this.onEstablished.resolve(endpoint)

      if (!registration.kept) {
        // tell the peer and close our side, but keep reading until it closes:
        // on a duplicate it may have sent messages before it learned the
        // outcome, and those are delivered; a chat refused by policy delivers nothing
        this.delivers = registration.reason === DUPLICATE_CHAT
        void this.close(registration.reason)
      }

      // the chat's messages, in order, a batch at a time
      for (let batch = await this.chat.take(); !this.remoteDisconnected; batch = await this.chat.take()) {
        if (batch == null) {
          this.closeReason ??= 'stream closed by peer'
          break
        }

        for (const msg of batch) {
          const pending = this.receive(msg, signal)

          if (pending != null) {
            await pending
          }

          if (this.remoteDisconnected) {
            // nothing after DISC_DISCONNECT is handled
            break
          }
        }
      }

      if (this.closeReason === `disconnected by peer: ${DUPLICATE_CHAT}`) {
        // the peer keeps our other chat with it: let that one register first,
        // so the peer is replaced quietly instead of dropped and re-established
        await this.coordinator.replacementFor(this)
      }

      await this.close()
    } catch (err: any) {
      this.failure = err

      if (err instanceof PeerRejectedError) {
        this.closeReason = err.message
        this.coordinator.peerRejected(this, err.message)
        await this.close(err.message)
      } else if (err instanceof InvalidFrameError) {
        // the chat stream already aborted itself on the bad frame
        this.closeReason = err.message
        this.coordinator.peerRejected(this, err.message)
      } else if (signal.aborted || this.closing != null) {
        this.closeReason ??= 'peer is stopping'
        await this.close('peer is stopping')
      } else if (this.remoteDisconnected) {
        // the peer said why it leaves before our hello exchange completed
        this.closeReason ??= err.message
        await this.close()
      } else {
        this.closeReason ??= err.message ?? String(err)
        this.log('chat with %p ended - %e', this.remotePeer, err)
        this.chat.abort(err)
      }
    } finally {
      this.state = 'closed'
      this.onEstablished.reject(this.failure ?? new ChatClosedError(`chat with ${this.remotePeer} ended before hello: ${this.closeReason}`))
      await this.stopEngineHandler()
      this.coordinator.deregister(this)
    }
  }

  /**
   * One message off the wire: rate, signature, then handling. Returns a
   * promise only when something has to wait, so the common path (security
   * off, a synchronous engine) allocates none.
   */
  private receive (msg: Message, signal: AbortSignal): Promise<void> | undefined {
    // charged before the (costlier) signature check: the peer is authenticated already
    const wait = this.coordinator.admit(this)

    if (wait > 0) {
      // over its rate: stop reading this chat until its window is over
      return raceSignal(new Promise(resolve => setTimeout(resolve, wait)), signal).then(() => this.verify(msg, signal))
    }

    if (++this.handled % YIELD_EVERY === 0) {
      // a full inbox is consumed in microtasks: let timers and I/O run now and then
      return new Promise(resolve => setImmediate(resolve)).then(() => this.verify(msg, signal))
    }

    return this.verify(msg, signal)
  }

  private verify (msg: Message, signal: AbortSignal): Promise<void> | undefined {
    // only under security
    const check = this.coordinator.checkMessage(this.to().pkiID, msg)

    if (check != null) {
      return check.then(refused => {
        if (refused != null) {
          throw new PeerRejectedError(refused)
        }

        return this.deliver(msg, signal)
      })
    }

    return this.deliver(msg, signal)
  }

  private deliver (msg: Message, signal: AbortSignal): Promise<void> | undefined {
    if (this.delivers) {
      return this.handleMessage(msg, signal) ?? undefined
    }

    if (msg.type === Message.Type.DISC_DISCONNECT) {
      this.remoteDisconnected = true
    }

    return undefined
  }

  /**
   * Handle one message from the peer. Engine calls are raced against `signal`
   * so a stuck engine cannot hold up a stopping node.
   */
  handleMessage (msg: Message, signal?: AbortSignal): void | Promise<void> {
    switch (msg.type) {
      case Message.Type.DISC_HELLO:
        throw new PeerRejectedError('DISC_HELLO on an established chat')
      case Message.Type.DISC_DISCONNECT:
        this.remoteDisconnected = true
        this.closeReason = `disconnected by peer: ${uint8ArrayToString(msg.payload.subarray(0, 1024))}`
        break
      case Message.Type.DISC_GET_PEERS:
        if (this.due('lastAnswerAt')) {
          this.reply(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode(this.coordinator.peersToShare())))
        }
        break
      case Message.Type.DISC_PEERS:
        // checked before decoding: a flood costs us nothing but this test
        if (this.due('lastPeersAt')) {
          this.coordinator.peersReceived(this, decode(PeersMessage, msg.payload, 'DISC_PEERS', { limits: { peers: this.coordinator.maxPeersPerMessage } }).peers)
          // from the end of the work: a flood gets one message per (processing + interval)
          this.lastPeersAt = Date.now()
        } else {
          this.log.trace('ignoring a DISC_PEERS from %p sent sooner than %dms after the last', this.remotePeer, this.coordinator.peerExchangeInterval)
        }
        break
      default: {
        const pending = this.engineHandler == null ? undefined : this.toEngine(this.engineHandler, msg, signal)

        if (pending != null) {
          return pending.then(() => { this.coordinator.messageReceived(this, msg) })
        }
      }
    }

    this.coordinator.messageReceived(this, msg)
  }

  /**
   * Send to the peer. A full queue (v0.6's consensus.buffersize) throws
   * SendQueueFullError for this peer only: backpressure for a peer that is
   * slower than we write, and a disconnect for one that has stopped reading.
   */
  sendMessage (msg: Message): void {
    this.queue(msg)
  }

  /** As sendMessage, for bytes already encoded (a broadcast encodes once) */
  sendEncoded (encoded: Uint8Array | Uint8ArrayList): void {
    this.queue(encoded)
  }

  private queue (msg: Message | Uint8Array | Uint8ArrayList): void {
    try {
      if (msg instanceof Uint8Array || msg instanceof Uint8ArrayList) {
        this.chat.sendEncoded(msg)
      } else {
        // the chat checks for room before it encodes
        this.chat.send(msg)
      }
    } catch (err: any) {
      if (err instanceof SendQueueFullError && this.closing == null) {
        this.coordinator.sendQueueFull(this)
      }

      throw err
    }
  }

  /** The remote's endpoint (from its validated hello) */
  to (): PeerEndpoint {
    if (this.endpoint == null) {
      throw new PeerRejectedError(`chat with ${this.remotePeer} is not established`)
    }

    return this.endpoint
  }

  async stop (): Promise<void> {
    await this.close('peer is stopping')
  }

  /**
   * End the chat from our side: tell the peer why (DISC_DISCONNECT), flush,
   * close our end, and give the peer CLOSE_TIMEOUT to close theirs before the
   * stream is aborted. Safe to call more than once.
   */
  async close (reason?: string): Promise<void> {
    this.closeReason ??= reason
    this.closing ??= this.closeStream(reason)
    await this.closing
  }

  private async closeStream (reason?: string): Promise<void> {
    const stream = this.chat.stream

    if (reason != null && !this.remoteDisconnected && this.chat.writable) {
      try {
        this.chat.send(createMessage(Message.Type.DISC_DISCONNECT, uint8ArrayFromString(reason)))
      } catch {
        // queue full or closing: the close below still tells the peer we are gone
      }
    }

    const signal = AbortSignal.timeout(CLOSE_TIMEOUT)

    try {
      await this.chat.close({ signal })

      if (stream.status === 'open' || stream.status === 'closing') {
        await pEvent(stream, 'close', { signal })
      }
    } catch {
      this.chat.abort(new TimeoutError(`chat with ${this.remotePeer} did not close within ${CLOSE_TIMEOUT}ms`))
    }
  }

  private async exchangeHellos (signal: AbortSignal): Promise<PeerEndpoint> {
    if (this.initiated) {
      this.sendMessage(await this.helloMessage())
    }

    // the hello must arrive, and pass its checks, within helloTimeout
    const helloSignal = anySignal([signal, AbortSignal.timeout(this.coordinator.helloTimeout)])

    try {
      const taken = await raceSignal(this.chat.take(1), helloSignal)

      if (taken == null) {
        throw new Error('stream closed before DISC_HELLO')
      }

      const first = { value: taken[0] }

      if (first.value.type === Message.Type.DISC_DISCONNECT) {
        // the peer refused us: its reason, not a violation of ours
        this.remoteDisconnected = true
        throw new ChatClosedError(`disconnected by peer: ${uint8ArrayToString(first.value.payload.subarray(0, 1024))}`)
      }

      if (first.value.type !== Message.Type.DISC_HELLO) {
        throw new PeerRejectedError(`${first.value.type} before DISC_HELLO`)
      }

      const hello = decode(HelloMessage, first.value.payload, 'DISC_HELLO')
      const endpoint = checkHelloEndpoint(hello.peerEndpoint, this.remotePeer)

      // under security the hello carries its own key, which then signs everything
      if (this.coordinator.secure && (hello.peerEndpoint?.pkiID.byteLength ?? 0) === 0) {
        throw new PeerRejectedError('hello without a pkiID')
      }

      // signature first, then membership. No await at all when security is off:
      // between this hello and register() nothing else may run, or a
      // DISC_DISCONNECT on a duplicate chat could overtake it
      const checked = this.coordinator.checkMessage(endpoint.pkiID, first.value)
      let refused = checked == null ? undefined : await raceSignal(checked, helloSignal)

      if (refused == null) {
        const admitted = this.coordinator.admitPeer(endpoint, this.remotePeer)
        refused = admitted == null ? undefined : await raceSignal(admitted, helloSignal)
      }

      if (refused != null) {
        throw new PeerRejectedError(refused)
      }

      return await this.establish(hello, endpoint)
    } catch (err) {
      if (helloSignal.aborted && !signal.aborted && !(err instanceof PeerRejectedError)) {
        throw new PeerRejectedError(`no DISC_HELLO accepted within ${this.coordinator.helloTimeout}ms`)
      }

      throw err
    } finally {
      helloSignal.clear()
    }
  }

  private async establish (hello: HelloMessage, endpoint: PeerEndpoint): Promise<PeerEndpoint> {

    if (!this.initiated) {
      this.sendMessage(await this.helloMessage())
    }

    this.endpoint = endpoint
    this.blockchainInfo = hello.blockchainInfo ?? BlockchainInfo.decode(new Uint8Array(0))
    this.chat.remoteEndpoint = endpoint
    this.state = 'established'
    this.engineHandler = this.coordinator.createEngineHandler(this.chat)

    return endpoint
  }

  /**
   * Hand a message to the engine. A handler that returns at once costs no
   * promise; one that returns a promise is raced against `signal`, so a stuck
   * engine cannot hold up a stopping node. Either way an engine error is the
   * engine's (as in v0.6), logged, not a reason to drop the peer.
   */
  private toEngine (engine: MessageHandler, msg: Message, signal?: AbortSignal): Promise<void> | undefined {
    let handled: void | Promise<void>

    try {
      handled = engine.handleMessage(msg)
    } catch (err: any) {
      this.log.error('engine failed to handle %s from %p - %e', msg.type, this.remotePeer, err)
      return undefined
    }

    if (handled == null || typeof (handled as Promise<void>).then !== 'function') {
      return undefined
    }

    return this.awaitEngine(Promise.resolve(handled), msg, signal)
  }

  private async awaitEngine (pending: Promise<void>, msg: Message, signal?: AbortSignal): Promise<void> {
    // if we stop waiting (shutdown), a later failure must not go unhandled
    pending.catch(() => {})

    try {
      await raceSignal(pending, signal)
    } catch (err: any) {
      if (signal?.aborted === true) {
        throw err
      }

      this.log.error('engine failed to handle %s from %p - %e', msg.type, this.remotePeer, err)
    }
  }

  /** Peer exchange from one peer is limited to once per peerExchangeInterval each way */
  private due (last: 'lastPeersAt' | 'lastAnswerAt'): boolean {
    const now = Date.now()

    if (now - this[last] < this.coordinator.peerExchangeInterval) {
      return false
    }

    this[last] = now
    return true
  }

  /** Answer the peer; a chat we are closing, or a full queue, is not a reason to fail the chat */
  private reply (msg: Message): void {
    try {
      this.sendMessage(msg)
    } catch (err: any) {
      if (!(err instanceof ChatClosedError)) {
        this.log('could not answer %s to %p - %e', msg.type, this.remotePeer, err)
      }
    }
  }

  private async helloMessage (): Promise<Message> {
    return createMessage(Message.Type.DISC_HELLO, HelloMessage.encode(await this.coordinator.localHello()))
  }

  private async stopEngineHandler (): Promise<void> {
    const engine = this.engineHandler

    if (engine == null) {
      return
    }

    try {
      await raceSignal(Promise.resolve().then(async () => { await engine.stop() }), AbortSignal.timeout(CLOSE_TIMEOUT))
    } catch (err: any) {
      this.log.error('engine handler for %p failed to stop - %e', this.remotePeer, err)
    }
  }
}

function decode<T, O> (codec: { decode(buf: Uint8Array, opts?: O): T }, payload: Uint8Array, what: string, opts?: O): T {
  try {
    return codec.decode(payload, opts)
  } catch (err: any) {
    throw new PeerRejectedError(`undecodable ${what} payload: ${err.message}`)
  }
}
