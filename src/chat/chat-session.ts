import { TimeoutError } from '@libp2p/interface'
import { anySignal } from 'any-signal'
import { pEvent } from 'p-event'
import { raceSignal } from 'race-signal'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { CLOSE_TIMEOUT } from '../constants.js'
import { checkHelloEndpoint } from '../endpoint.js'
import { ChatClosedError, InvalidFrameError, PeerRejectedError } from '../errors.js'
import { createMessage, decodePayload } from '../message.js'
import { BlockchainInfo, HelloMessage, Message } from '../pb/fabric.js'
import { RateWindow } from './rate-window.js'
import { ChatRemoteLedger } from '../sync/remote-ledger.js'
import type { LedgerServer } from '../sync/ledger-server.js'
import type { ChatStream } from './chat-stream.js'
import type { PeerExchange } from './peer-exchange.js'
import type { MessageHandler } from '../index.js'
import type { PeerEndpoint } from '../pb/fabric.js'
import type { PeerGuard } from '../security/peer-guard.js'
import type { Counter, Logger, PeerId } from '@libp2p/interface'

/** Whether a newly established chat is kept, and why not */
export type Registration = { kept: true } | { kept: false, reason: string }

/**
 * What a chat needs from outside `src/chat/` is only the engine and the
 * security checks; the rest is the chat registry that owns it.
 */
export interface ChatSessionContext {
  /** How long the peer has to send an acceptable DISC_HELLO */
  readonly helloTimeout: number
  /** Messages the peer may send per second before its chat is paused */
  readonly maxMessagesPerSecond: number
  /** Counts the seconds in which a peer went over its rate */
  readonly throttled?: Counter
  /** Signatures, membership, the validator set */
  readonly guard: PeerGuard
  /** DISC_GET_PEERS and DISC_PEERS */
  readonly exchange: PeerExchange
  /** Answers the peer's RemoteLedger requests from our ledger */
  readonly ledgerServer: LedgerServer
  /** Our hello: our endpoint and our ledger's summary */
  localHello(): Promise<HelloMessage>
  /** The engine's handler for a chat that has just been established, if there is an engine */
  createEngineHandler(chat: ChatStream): MessageHandler | undefined
  /** Record an established chat, unless policy or a duplicate chat says otherwise */
  register(session: ChatSession): Registration
  /** Forget a chat that has ended */
  deregister(session: ChatSession): void
  /** Settles when another chat with the same peer that is still in its hello exchange has registered or failed */
  replacementFor(session: ChatSession): Promise<void>
  /** A peer broke the protocol */
  rejected(session: ChatSession, reason: string): void
  /** A message arrived on an established chat and has been handled */
  delivered(session: ChatSession, msg: Message): void
}

export type ChatState = 'created' | 'established' | 'closed'

/** Messages handled between two yields to the event loop */
const YIELD_EVERY = 256

/** The reason given to a chat closed because the peer keeps another one with us */
export const DUPLICATE_CHAT = 'duplicate chat'

/**
 * One chat with one peer, as the peer layer runs it (Fabric's `peer.Handler`):
 * the hello exchange, the peer's message rate, signature checks, the peer
 * exchange (DISC_GET_PEERS, DISC_PEERS), DISC_DISCONNECT, and every other
 * message handed to the engine's handler.
 */
export class ChatSession implements MessageHandler {
  readonly chat: ChatStream
  readonly remotePeer: PeerId
  readonly initiated: boolean
  state: ChatState = 'created'
  /** The remote's summary of its chain, from its hello */
  blockchainInfo?: BlockchainInfo
  /** Why the chat ended, once it has */
  closeReason?: string
  /** The peer's ledger, read over this chat (answers to our SYNC_* requests arrive here) */
  readonly remoteLedger: ChatRemoteLedger
  /** Resolves with the remote endpoint when the hello exchange completes; rejects if the chat ends before */
  readonly established: Promise<PeerEndpoint>

  private readonly context: ChatSessionContext
  private readonly rate: RateWindow
  private readonly log: Logger
  private readonly onEstablished: PromiseWithResolvers<PeerEndpoint>
  private engineHandler?: MessageHandler
  /** Why the chat failed, for whoever waits on `established` */
  private failure?: Error
  private endpoint?: PeerEndpoint
  private remoteDisconnected = false
  /** Whether messages are handed on (false for a chat refused by policy while it drains) */
  private delivers = true
  private handled = 0
  private closing?: Promise<void>
  private runSignal: AbortSignal = new AbortController().signal

  constructor (context: ChatSessionContext, chat: ChatStream, log: Logger) {
    this.context = context
    this.rate = new RateWindow(context.maxMessagesPerSecond, context.throttled)
    this.chat = chat
    this.remotePeer = chat.remotePeer
    this.initiated = chat.initiated
    this.log = log
    this.remoteLedger = new ChatRemoteLedger({ remotePeer: chat.remotePeer, send: (msg) => { chat.send(msg) }, log })
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
    this.runSignal = signal

    try {
      const endpoint = await this.exchangeHellos(signal)

      if (this.closing != null || signal.aborted) {
        // closed while the hello was in flight: never registered
        throw new ChatClosedError(`chat with ${this.remotePeer} closed during the hello exchange`)
      }

      const registration = this.context.register(this)
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
        await this.context.replacementFor(this)
      }

      await this.close()
    } catch (err: any) {
      this.failure = err

      if (err instanceof PeerRejectedError) {
        this.closeReason = err.message
        this.context.rejected(this, err.message)
        await this.close(err.message)
      } else if (err instanceof InvalidFrameError) {
        // the chat stream already aborted itself on the bad frame
        this.closeReason = err.message
        this.context.rejected(this, err.message)
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
      this.remoteLedger.close(this.closeReason ?? 'chat ended')
      this.onEstablished.reject(this.failure ?? new ChatClosedError(`chat with ${this.remotePeer} ended before hello: ${this.closeReason}`))
      await this.stopEngineHandler()
      this.context.deregister(this)
    }
  }

  /**
   * One message off the wire: rate, signature, then handling. Returns a
   * promise only when something has to wait, so the common path (security
   * off, a synchronous engine) allocates none.
   */
  private receive (msg: Message, signal: AbortSignal): Promise<void> | undefined {
    // charged before the (costlier) signature check: the peer is authenticated already
    const wait = this.rate.take()

    if (wait > 0) {
      this.log('%p is over its message rate, pausing its chat for %dms', this.remotePeer, wait)
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
    const check = this.context.guard.checkMessage(this.to().pkiID, msg)

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
        this.context.exchange.onGetPeers(this)
        break
      case Message.Type.DISC_PEERS:
        this.context.exchange.onPeers(this, msg)
        break
      case Message.Type.SYNC_GET_BLOCKS:
      case Message.Type.SYNC_STATE_GET_SNAPSHOT:
      case Message.Type.SYNC_STATE_GET_DELTAS:
        // served by the peer layer from our ledger, for every engine (v0.6's handler did the same)
        this.context.ledgerServer.onRequest(this.chat, msg, signal ?? this.runSignal)
        break
      case Message.Type.SYNC_BLOCKS:
      case Message.Type.SYNC_STATE_SNAPSHOT:
      case Message.Type.SYNC_STATE_DELTAS: {
        // answers to our RemoteLedger requests; a consumer that is behind holds up this chat
        const pending = this.remoteLedger.onAnswer(msg)

        if (pending != null) {
          return raceSignal(pending, signal).then(() => { this.context.delivered(this, msg) })
        }
        break
      }
      default: {
        const pending = this.engineHandler == null ? undefined : this.toEngine(this.engineHandler, msg, signal)

        if (pending != null) {
          return pending.then(() => { this.context.delivered(this, msg) })
        }
      }
    }

    this.context.delivered(this, msg)
  }

  /**
   * Send to the peer. A full queue (v0.6's peer.validator.consensus.buffersize) throws
   * SendQueueFullError for this peer only: backpressure for a peer that is
   * slower than we write; the chat stream reports one that has stopped reading.
   */
  sendMessage (msg: Message): void {
    this.chat.send(msg)
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
    const helloSignal = anySignal([signal, AbortSignal.timeout(this.context.helloTimeout)])

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

      const hello = decodePayload(HelloMessage, first.value.payload, 'DISC_HELLO')
      const endpoint = checkHelloEndpoint(hello.peerEndpoint, this.remotePeer)

      // under security the hello carries its own key, which then signs everything
      if (this.context.guard.secure && (hello.peerEndpoint?.pkiID.byteLength ?? 0) === 0) {
        throw new PeerRejectedError('hello without a pkiID')
      }

      // signature first, then membership. No await at all when security is off:
      // between this hello and register() nothing else may run, or a
      // DISC_DISCONNECT on a duplicate chat could overtake it
      const checked = this.context.guard.checkMessage(endpoint.pkiID, first.value)
      let refused = checked == null ? undefined : await raceSignal(checked, helloSignal)

      if (refused == null) {
        const admitted = this.context.guard.checkHello(endpoint, this.remotePeer)
        refused = admitted == null ? undefined : await raceSignal(admitted, helloSignal)
      }

      if (refused != null) {
        throw new PeerRejectedError(refused)
      }

      return await this.establish(hello, endpoint)
    } catch (err) {
      if (helloSignal.aborted && !signal.aborted && !(err instanceof PeerRejectedError)) {
        throw new PeerRejectedError(`no DISC_HELLO accepted within ${this.context.helloTimeout}ms`)
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
    this.chat.established(endpoint)
    this.state = 'established'
    this.engineHandler = this.context.createEngineHandler(this.chat)

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

  /** Answer the peer; a chat we are closing, or a full queue, is not a reason to fail the chat */
  reply (msg: Message): void {
    try {
      this.sendMessage(msg)
    } catch (err: any) {
      if (!(err instanceof ChatClosedError)) {
        this.log('could not answer %s to %p - %e', msg.type, this.remotePeer, err)
      }
    }
  }

  private async helloMessage (): Promise<Message> {
    return createMessage(Message.Type.DISC_HELLO, HelloMessage.encode(await this.context.localHello()))
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
