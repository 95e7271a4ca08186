import { TimeoutError } from '@libp2p/interface'
import { UnexpectedEOFError } from '@libp2p/utils'
import { raceSignal } from 'race-signal'
import { Uint8ArrayList } from 'uint8arraylist'
import { readLengthPrefix } from '../chat/frames.js'
import { RequestBudgetError } from './request-budget.js'
import type { RequestHold } from './request-budget.js'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'

/** Room for a length prefix: readLengthPrefix refuses one long before this fills */
const PREFIX_ROOM = 10

export interface ReadRequestOptions {
  /** What the request holds: every block it stores is taken from it */
  hold: RequestHold
  maxMessageSize: number
  /** The request must arrive whole by then */
  signal: AbortSignal
  /** How long it may take, for the error */
  requestTimeout: number
}

/**
 * Read the one length-prefixed request of a `/fabric/transaction/1.0.0`
 * stream, holding no more than it counts.
 *
 * Not `pbStream`: its reader keeps each chunk as it arrived, a view into the
 * connection's decrypted buffer that other streams' data share and that the
 * view keeps alive whole, and each tiny chunk costs an object besides; it
 * cannot refuse a request on its prefix either. Here the bytes are copied as
 * they arrive into blocks of `blockSize`, each taken from `hold` when it is
 * allocated: what the request stores is what it counts, at most one block
 * ahead of what arrived. The length prefix is checked as soon as it is whole:
 * over maxMessageSize, or more than the connection's requests have room for
 * (`RequestHold.expect`), refuses the request before its body is sent.
 *
 * @throws {RequestBudgetError} over the budget
 * @throws {TimeoutError} when `signal` aborts first
 * @throws {InvalidMessageError} for a prefix over maxMessageSize or malformed
 * @throws {UnexpectedEOFError} when the stream ends first
 */
export async function readRequest (stream: Stream, blockSize: number, options: ReadRequestOptions): Promise<Uint8Array | Uint8ArrayList> {
  const { hold, maxMessageSize } = options
  const prefix = new Uint8Array(PREFIX_ROOM)
  let prefixLength = 0
  let bodyLength = -1
  const blocks: Uint8Array[] = []
  let received = 0
  const done = Promise.withResolvers<Uint8Array | Uint8ArrayList>()
  // settled at most once; a rejection after the deadline has nobody to go to
  done.promise.catch(() => {})

  const complete = (): void => {
    done.resolve(blocks.length === 1 ? blocks[0] : new Uint8ArrayList(...blocks))
  }

  /** Copy `chunk` into the prefix, then the body's blocks; bytes past the request are left */
  const store = (chunk: Uint8Array): void => {
    let at = 0

    while (bodyLength < 0 && at < chunk.byteLength) {
      prefix[prefixLength++] = chunk[at++]
      const head = readLengthPrefix(new Uint8ArrayList(prefix.subarray(0, prefixLength)), maxMessageSize)

      if (head != null) {
        hold.expect(head.length)
        bodyLength = head.length
      }
    }

    while (received < bodyLength && at < chunk.byteLength) {
      const offset = received % blockSize

      if (offset === 0) {
        const size = Math.min(blockSize, bodyLength - received)
        hold.take(size)
        blocks.push(new Uint8Array(size))
      }

      const n = Math.min(blocks[blocks.length - 1].byteLength - offset, chunk.byteLength - at)
      blocks[blocks.length - 1].set(chunk.subarray(at, at + n), offset)
      at += n
      received += n
    }
  }

  const onMessage = (evt: StreamMessageEvent): void => {
    try {
      for (const chunk of evt.data instanceof Uint8Array ? [evt.data] : evt.data) {
        store(chunk)
      }

      if (received === bodyLength) {
        complete()
      }
    } catch (err: any) {
      done.reject(err)
    }
  }
  const onClose = (evt: StreamCloseEvent): void => {
    done.reject(evt.error ?? new UnexpectedEOFError('transaction stream closed before the request arrived whole'))
  }
  // a FIN is handled before the data it came with: look once that data is in
  const onRemoteCloseWrite = (): void => {
    queueMicrotask(() => {
      done.reject(new UnexpectedEOFError(`transaction stream ended after ${received} of ${bodyLength < 0 ? 'an unknown number of' : bodyLength} request bytes`))
    })
  }

  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('remoteCloseWrite', onRemoteCloseWrite)

  // ended before we listened: what it sent is dispatched first
  if (stream.remoteWriteStatus !== 'writable') {
    onRemoteCloseWrite()
  }

  try {
    return await raceSignal(done.promise, options.signal)
  } catch (err: any) {
    if (options.signal.aborted && !(err instanceof RequestBudgetError)) {
      throw new TimeoutError(`transaction request not received whole within ${options.requestTimeout}ms`)
    }

    throw err
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('remoteCloseWrite', onRemoteCloseWrite)
  }
}
