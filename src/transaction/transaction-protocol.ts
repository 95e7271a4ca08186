import { pbStream } from '@libp2p/utils'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { boundedLengthDecoder } from '../chat/frames.js'
import { Response, Transaction } from '../pb/fabric.js'
import type { AbortOptions, Logger, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

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

/**
 * Server side of `/fabric/transaction/1.0.0` (Fabric's `ProcessTransaction`):
 * read one Transaction, answer one Response, close. A frame that is too large
 * or does not decode aborts the stream; nothing escapes.
 */
export async function serveTransaction (stream: Stream, process: (tx: Transaction, options: AbortOptions) => Promise<Response>, options: TransactionStreamOptions, log: Logger): Promise<void> {
  const pb = pbStream(stream, lengthLimits(options.maxMessageSize))

  try {
    const tx = await pb.read(Transaction, { signal: options.signal })
    const res = await process(tx, { signal: options.signal })
    await pb.write(res, Response, { signal: options.signal })
    await stream.close({ signal: options.signal })
  } catch (err: any) {
    log('transaction stream from %s failed - %e', stream.id, err)
    stream.abort(err)
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

function lengthLimits (maxMessageSize: number): { maxDataLength: number, lengthDecoder: (buf: Uint8ArrayList) => number } {
  return { maxDataLength: maxMessageSize, lengthDecoder: boundedLengthDecoder(maxMessageSize) }
}
