import { TimeoutError } from '@libp2p/interface'
import { pbStream } from '@libp2p/utils'
import { anySignal } from 'any-signal'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { TRANSACTION_REQUEST_BLOCK } from '../constants.js'
import { boundedLengthDecoder } from '../chat/frames.js'
import { Response, Transaction } from '../pb/fabric.js'
import { RequestBudgetError } from './request-budget.js'
import { readRequest } from './request-reader.js'
import type { RequestHold } from './request-budget.js'
import type { AbortOptions, Logger, Stream } from '@libp2p/interface'

/** A Response with a human-readable message */
export function response (status: Response.StatusCode, message: string): Response {
  return { status, msg: uint8ArrayFromString(message) }
}

/** The message of a Response as text */
export function responseText (res: Response): string {
  return uint8ArrayToString(res.msg)
}

export interface TransactionStreamOptions {
  maxMessageSize: number
  /** Bounds the whole exchange */
  signal: AbortSignal
}

/** Why a request was refused before it was read whole */
export type RefusalReason = 'budget' | 'deadline' | 'connection'

export interface ServeTransactionOptions extends TransactionStreamOptions {
  /** What the request holds: every byte that arrives is counted against it */
  hold: RequestHold
  /** How long the request may take to arrive whole, within `signal` */
  requestTimeout: number
  /**
   * Called once for a request refused over the byte budget or the deadline;
   * `ownShare`: the connection's own share was over (or its request late),
   * not only the node's budget, which other connections fill
   */
  onRefused(reason: RefusalReason, ownShare: boolean): void
}

/**
 * Server side of `/fabric/transaction/1.0.0` (Fabric's `ProcessTransaction`):
 * read one Transaction, answer one Response, close. The request is read by
 * {@link readRequest}: counted against `hold` as it arrives and due whole
 * within `requestTimeout`; a request over the budget, late, too large or
 * undecodable aborts the stream. What the request holds is released once the
 * stream is done. Nothing escapes.
 */
export async function serveTransaction (stream: Stream, process: (tx: Transaction, options: AbortOptions) => Promise<Response>, options: ServeTransactionOptions, log: Logger): Promise<void> {
  const deadline = anySignal([options.signal, AbortSignal.timeout(options.requestTimeout)])

  try {
    const request = await readRequest(stream, TRANSACTION_REQUEST_BLOCK, { ...options, signal: deadline })
    deadline.clear()
    // one request per stream: whatever the peer sends after it is dropped, not held
    await stream.closeRead({ signal: options.signal })
    const res = await process(Transaction.decode(request), { signal: options.signal })
    const answer = Response.encode(res)
    stream.send(new Uint8ArrayList(varint.encode(answer.byteLength), answer))
    await stream.close({ signal: options.signal })
  } catch (err: any) {
    if (err instanceof RequestBudgetError) {
      options.onRefused('budget', err.ownShare)
    } else if (err instanceof TimeoutError && !options.signal.aborted) {
      options.onRefused('deadline', true)
    }

    log('transaction stream %s failed - %e', stream.id, err)
    stream.abort(err)
  } finally {
    deadline.clear()
    options.hold.release()
  }
}

/**
 * Client side: send one Transaction on a fresh stream and read the Response.
 *
 * @throws when the stream fails, the answer does not decode, or the signal aborts
 */
export async function requestTransaction (stream: Stream, tx: Transaction, options: TransactionStreamOptions): Promise<Response> {
  const pb = pbStream(stream, lengthLimits(options.maxMessageSize))

  try {
    await pb.write(tx, Transaction, { signal: options.signal })
    const res = await pb.read(Response, { signal: options.signal })
    await stream.close({ signal: options.signal })
    return res
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

/**
 * A reader buffers one frame with its prefix at most: byteStream's default
 * buffer (4 MiB) would refuse the largest frame of a larger maxMessageSize.
 */
function lengthLimits (maxMessageSize: number): { maxDataLength: number, maxBufferSize: number, lengthDecoder: (buf: Uint8ArrayList) => number } {
  return { maxDataLength: maxMessageSize, maxBufferSize: maxMessageSize + varint.encodingLength(maxMessageSize), lengthDecoder: boundedLengthDecoder(maxMessageSize) }
}
