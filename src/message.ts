import { PeerRejectedError } from './errors.js'
import { Message } from './pb/fabric.js'
import type { Timestamp } from './pb/fabric.js'

/** The current time as a protobuf Timestamp */
export function timestampNow (): Timestamp {
  const ms = Date.now()
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 }
}

/** A `Message` of the given type, stamped with the current time */
export function createMessage (type: Message.Type, payload: Uint8Array = new Uint8Array(0)): Message {
  return {
    type,
    timestamp: timestampNow(),
    payload: payload as Uint8Array<ArrayBuffer>,
    signature: new Uint8Array(0)
  }
}

/**
 * Decode a message's payload, or reject the peer that sent it: a payload that
 * does not decode is a protocol violation.
 *
 * @throws {PeerRejectedError}
 */
export function decodePayload<T, O> (codec: { decode(buf: Uint8Array, opts?: O): T }, payload: Uint8Array, what: string, opts?: O): T {
  try {
    return codec.decode(payload, opts)
  } catch (err: any) {
    throw new PeerRejectedError(`undecodable ${what} payload: ${err.message}`)
  }
}
