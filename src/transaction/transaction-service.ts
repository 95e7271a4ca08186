import { setMaxListeners } from '@libp2p/interface'
import { RateLimiter } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import { raceSignal } from 'race-signal'
import * as varint from 'uint8-varint'
import { MAX_INBOUND_TRANSACTION_STREAMS, MAX_OUTBOUND_TRANSACTION_STREAMS, MAX_TRANSACTION_REFUSALS, MAX_TRANSACTION_REQUEST_BYTES, MAX_TRANSACTION_REQUEST_BYTES_PER_CONNECTION, TRANSACTION_PROTOCOL, TRANSACTION_REFUSAL_WINDOW, TRANSACTION_REQUEST_COST, TRANSACTION_REQUEST_TIMEOUT } from '../constants.js'
import { sample } from '../discovery/discovery.js'
import { createMessage } from '../message.js'
import { Message, PeerEndpoint, Response, Transaction } from '../pb/fabric.js'
import { RequestBudget, RequestBudgetError } from './request-budget.js'
import type { RequestHold } from './request-budget.js'
import { requestTransaction, response, serveTransaction } from './transaction-protocol.js'
import type { RefusalReason } from './transaction-protocol.js'
import type { ChatRegistry } from '../chat/chat-registry.js'
import type { ResolvedInit } from '../init.js'
import type { PeerGuard } from '../security/peer-guard.js'
import type { AbortOptions, ComponentLogger, Connection, CounterGroup, Logger, Metrics, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export interface TransactionServiceComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  metrics?: Metrics
}

export type TransactionServiceInit = Pick<ResolvedInit, 'validator' | 'engine' | 'transactionTimeout' | 'maxMessageSize' | 'maxMessagesPerSecond'> & {
  guard: PeerGuard
  /** Where a non-validator finds its validators */
  chats: Pick<ChatRegistry, 'sessions'>
}

/**
 * Fabric's transaction service: serves `/fabric/transaction/1.0.0` (one
 * Transaction in, one Response out), and `ExecuteTransaction`: a validator
 * hands a transaction to its engine, a non-validator forwards it to one of its
 * validators. Transactions count against the sender's message rate.
 *
 * What requests may make the node hold is bounded: streams per connection
 * (`MAX_INBOUND_TRANSACTION_STREAMS`), bytes per connection and node-wide
 * (`RequestBudget`, from a stream's opening until its Response is sent), and
 * the time a request may take to arrive (`TRANSACTION_REQUEST_TIMEOUT`).
 */
export class TransactionService implements Startable {
  private readonly components: TransactionServiceComponents
  private readonly init: TransactionServiceInit
  private readonly log: Logger
  /** Transactions per remote peer and second */
  private readonly rateLimiter: RateLimiter
  /** Bytes held by inbound requests */
  private readonly budget: RequestBudget
  /** Refusals per connection in the current window; the entry goes with the connection */
  private readonly recentRefusals = new WeakMap<Connection, { since: number, count: number }>()
  /** Requests refused over the budget or the deadline, when the node has metrics */
  private readonly refusals?: CounterGroup<RefusalReason>
  private shutdown = new AbortController()

  constructor (components: TransactionServiceComponents, init: TransactionServiceInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('libp2p:fabric:peer')
    this.rateLimiter = new RateLimiter({ points: init.maxMessagesPerSecond, duration: 1 })
    // a connection always has room for one request of the largest size
    const largest = TRANSACTION_REQUEST_COST + varint.encodingLength(init.maxMessageSize) + init.maxMessageSize
    this.budget = new RequestBudget({
      limit: MAX_TRANSACTION_REQUEST_BYTES,
      connectionLimit: Math.max(MAX_TRANSACTION_REQUEST_BYTES_PER_CONNECTION, largest),
      requestCost: TRANSACTION_REQUEST_COST
    })
    components.metrics?.registerMetric('libp2p_fabric_transaction_request_bytes', {
      help: 'Bytes held by inbound transaction requests, from their stream\'s opening until their Response is sent',
      calculate: () => this.requestBytes
    })
    this.refusals = components.metrics?.registerCounterGroup('libp2p_fabric_transaction_requests_refused_total', {
      label: 'reason',
      help: 'Inbound transaction requests refused before they were read whole: over the byte budget, or not arrived within the request deadline'
    })
    this.onTransactionStream = this.onTransactionStream.bind(this)
  }

  async start (): Promise<void> {
    this.shutdown = new AbortController()
    setMaxListeners(Infinity, this.shutdown.signal)
    await this.components.registrar.handle(TRANSACTION_PROTOCOL, this.onTransactionStream, {
      maxInboundStreams: MAX_INBOUND_TRANSACTION_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_TRANSACTION_STREAMS
    })
  }

  /** Bytes held by inbound transaction requests now, from their stream's opening until their Response is sent */
  get requestBytes (): number {
    return this.budget.held
  }

  /** Stop serving transactions; those in progress go on until stop() */
  async beforeStop (): Promise<void> {
    await this.components.registrar.unhandle(TRANSACTION_PROTOCOL)
  }

  stop (): void {
    this.shutdown.abort()
  }

  /**
   * Fabric's `ExecuteTransaction`: a validator hands the transaction to its
   * engine (as a CHAIN_TRANSACTION message); a non-validator forwards it to its
   * established validators, in random order, until one answers. Never throws:
   * failures are a FAILURE Response with the reason, within `transactionTimeout`.
   */
  async processTransaction (tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    const { transactionTimeout } = this.init
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(transactionTimeout), options.signal])
    tx = this.init.guard.signTransaction(tx)

    try {
      return this.init.validator ? await this.toEngine(tx, signal) : await this.toValidators(tx, signal)
    } catch (err: any) {
      return response(Response.StatusCode.FAILURE, signal.aborted ? `transaction ${tx.txid} timed out after ${transactionTimeout}ms` : `transaction ${tx.txid} failed: ${err.message}`)
    } finally {
      signal.clear()
    }
  }

  /**
   * Send a transaction to one peer over `/fabric/transaction/1.0.0` and return its Response.
   *
   * @throws when the peer cannot be reached or does not answer in time
   */
  async sendTransactionToPeer (peer: PeerId, tx: Transaction, options: AbortOptions = {}): Promise<Response> {
    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.init.transactionTimeout), options.signal])

    try {
      const stream = await this.components.connectionManager.openStream(peer, TRANSACTION_PROTOCOL, { signal })
      return await requestTransaction(stream, this.init.guard.signTransaction(tx), { maxMessageSize: this.init.maxMessageSize, signal })
    } finally {
      signal.clear()
    }
  }

  private onTransactionStream (stream: Stream, connection: Connection): void {
    let hold: RequestHold

    try {
      hold = this.budget.open(connection.id)
    } catch (err: any) {
      this.log('transaction stream from %p refused - %e', connection.remotePeer, err)
      stream.abort(err)
      this.refused('budget', connection, err instanceof RequestBudgetError && err.ownShare)
      return
    }

    const signal = anySignal([this.shutdown.signal, AbortSignal.timeout(this.init.transactionTimeout)])
    this.log.trace('transaction stream from %p', connection.remotePeer)
    void serveTransaction(stream, async (tx, options) => {
      if (this.rateLimited(`tx:${connection.remotePeer}`)) {
        return response(Response.StatusCode.FAILURE, 'too many requests: over maxMessagesPerSecond')
      }

      const refused = await this.init.guard.checkTransaction(connection.remotePeer, tx)

      if (refused != null) {
        return response(Response.StatusCode.FAILURE, refused)
      }

      return this.processTransaction(tx, options)
    }, {
      maxMessageSize: this.init.maxMessageSize,
      signal,
      hold,
      requestTimeout: Math.min(TRANSACTION_REQUEST_TIMEOUT, this.init.transactionTimeout),
      onRefused: (reason, ownShare) => { this.refused(reason, connection, ownShare) }
    }, this.log)
      .finally(() => { signal.clear() })
  }

  /**
   * Count a refused request. A connection refused too often for its own share
   * is closed; refusals because other connections filled the node's budget do
   * not count against it, or an attacker filling the budget would get honest
   * connections closed
   */
  private refused (reason: RefusalReason, connection: Connection, ownShare: boolean): void {
    this.refusals?.increment({ [reason]: 1 })

    if (!ownShare) {
      return
    }

    const now = Date.now()
    let recent = this.recentRefusals.get(connection)

    if (recent == null || now - recent.since > TRANSACTION_REFUSAL_WINDOW) {
      recent = { since: now, count: 0 }
      this.recentRefusals.set(connection, recent)
    }

    if (++recent.count >= MAX_TRANSACTION_REFUSALS && connection.status === 'open') {
      this.log('closing the connection to %p: %d transaction requests refused within %dms', connection.remotePeer, recent.count, TRANSACTION_REFUSAL_WINDOW)
      this.refusals?.increment({ connection: 1 })
      connection.abort(new Error(`${recent.count} transaction requests refused within ${TRANSACTION_REFUSAL_WINDOW}ms`))
    }
  }

  /** Whether `key` is over its rate this second */
  private rateLimited (key: string): boolean {
    try {
      this.rateLimiter.consume(key)
      return false
    } catch (err: any) {
      if (err.name !== 'RateLimitError') {
        throw err
      }

      return true
    }
  }

  private async toEngine (tx: Transaction, signal: AbortSignal): Promise<Response> {
    const { engine } = this.init

    if (engine == null) {
      return response(Response.StatusCode.FAILURE, 'this validator has no engine to process transactions')
    }

    const msg = createMessage(Message.Type.CHAIN_TRANSACTION, Transaction.encode(tx))
    return raceSignal(Promise.resolve(engine.processTransactionMessage(msg, tx)), signal)
  }

  private async toValidators (tx: Transaction, signal: AbortSignal): Promise<Response> {
    const validators = this.init.chats.sessions()
      .filter(session => session.to().type === PeerEndpoint.Type.VALIDATOR)
      .map(session => session.remotePeer)
    const failures: string[] = []

    for (const validator of sample(validators, validators.length)) {
      try {
        return await this.sendTransactionToPeer(validator, tx, { signal })
      } catch (err: any) {
        if (signal.aborted) {
          throw err
        }

        failures.push(`${validator}: ${err.message}`)
        this.log('forwarding %s to %p failed, trying another validator - %e', tx.txid, validator, err)
      }
    }

    return response(Response.StatusCode.FAILURE, validators.length === 0
      ? 'no validator is connected to forward the transaction to'
      : `no validator took the transaction: ${failures.join('; ')}`)
  }
}
