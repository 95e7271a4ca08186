import { InvalidMessageError } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { Message } from '../pb/fabric.js'

/**
 * Longest length prefix we read: 5 varint bytes hold 2^35, more than any
 * sensible maxMessageSize. A longer run of continuation bytes is garbage.
 */
export const MAX_PREFIX_BYTES = 5

/** A lone body larger than this is written as prefix + body, uncopied; smaller ones are packed into one buffer */
const COPY_LIMIT = 64 * 1024

/**
 * Splits a byte stream into length-prefixed frames (unsigned varint length,
 * then the body).
 *
 * `@libp2p/utils`' LengthPrefixedDecoder is not used here because it cannot
 * tell an incomplete prefix from one that never ends (both are a RangeError
 * from the varint reader, taken as "wait for more"), and its buffer limit
 * counts the whole incoming chunk, which may legitimately hold many frames.
 * This decoder rejects a frame as soon as its prefix shows it is too long or
 * malformed, so it holds at most one partial frame plus one incoming chunk.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameLength: number

  constructor (maxFrameLength: number) {
    this.maxFrameLength = maxFrameLength
  }

  /**
   * Append `chunk` and return every complete frame body now available (for
   * tests and tools: a reader with a budget takes them one at a time with `next()`).
   *
   * @throws {InvalidMessageError} on a frame longer than maxFrameLength or a malformed prefix
   */
  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.append(chunk)
    const frames: Uint8Array[] = []

    for (let frame = this.next(); frame != null; frame = this.next()) {
      frames.push(frame)
    }

    return frames
  }

  /** Buffer `chunk`; take its frames with `next()`, as many as the reader has room for */
  append (chunk: Uint8Array | Uint8ArrayList): void {
    this.buffer.append(chunk)
  }

  /**
   * The next complete frame body, or undefined until more bytes arrive.
   *
   * @throws {InvalidMessageError} on a frame longer than maxFrameLength or a malformed prefix
   */
  next (): Uint8Array | undefined {
    if (this.buffer.byteLength === 0) {
      return undefined
    }

    const head = this.readPrefix()

    if (head == null || this.buffer.byteLength < head.prefix + head.length) {
      return undefined
    }

    const frame = this.buffer.subarray(head.prefix, head.prefix + head.length)
    this.buffer.consume(head.prefix + head.length)
    return frame
  }

  /** Bytes held for an incomplete frame */
  get buffered (): number {
    return this.buffer.byteLength
  }

  private readPrefix (): { length: number, prefix: number } | undefined {
    return readLengthPrefix(this.buffer, this.maxFrameLength)
  }
}

/**
 * The frame length at the start of `buf` and the bytes its prefix takes;
 * undefined while the prefix is incomplete.
 *
 * @throws {InvalidMessageError} when the prefix shows a frame over maxFrameLength, or runs past MAX_PREFIX_BYTES
 */
export function readLengthPrefix (buf: Uint8ArrayList, maxFrameLength: number): { length: number, prefix: number } | undefined {
  let length = 0

  for (let i = 0; i < MAX_PREFIX_BYTES; i++) {
    if (i === buf.byteLength) {
      return undefined
    }

    const byte = buf.get(i)
    length += (byte & 0x7f) * 2 ** (7 * i)

    if (length > maxFrameLength) {
      throw new InvalidMessageError(`Frame of ${byte < 0x80 ? '' : 'at least '}${length} bytes exceeds the limit of ${maxFrameLength}`)
    }

    if (byte < 0x80) {
      return { length, prefix: i + 1 }
    }
  }

  throw new InvalidMessageError(`Frame length prefix is longer than ${MAX_PREFIX_BYTES} bytes`)
}

/**
 * A `lengthDecoder` for @libp2p/utils' lpStream/pbStream. Theirs treats an
 * unterminated varint as "read another byte" for ever (its length-of-length
 * limit is checked only after a successful decode); this one fails as soon as
 * the prefix cannot be valid. Incomplete prefixes are a RangeError, which
 * lpStream takes as "read another byte".
 */
export function boundedLengthDecoder (maxFrameLength: number): (buf: Uint8ArrayList) => number {
  return (buf) => {
    const head = readLengthPrefix(buf, maxFrameLength)

    if (head == null) {
      throw new RangeError('incomplete length prefix')
    }

    return head.length
  }
}

/** Tag of `Message.payload` (field 3, length-delimited) */
const PAYLOAD_TAG = (3 << 3) | 2

/**
 * `Message.encode(msg)`, except that a payload over COPY_LIMIT is not copied:
 * the result is a list of [type and timestamp, payload tag and length, the
 * payload itself, signature], the same bytes protons writes (fields in number
 * order, defaults omitted). The payload must not change until it is sent.
 */
export function encodeMessage (msg: Message): Uint8Array | Uint8ArrayList {
  const length = msg.payload.byteLength

  if (length <= COPY_LIMIT) {
    return Message.encode(msg)
  }

  const tag = new Uint8Array(1 + varint.encodingLength(length))
  tag[0] = PAYLOAD_TAG
  varint.encodeUint8Array(length, tag, 1)
  const list = new Uint8ArrayList(Message.encode({ type: msg.type, timestamp: msg.timestamp }), tag, msg.payload)

  if (msg.signature.byteLength > 0) {
    list.append(Message.encode({ signature: msg.signature }))
  }

  return list
}

/**
 * Length-prefix `bodies[start..end)` into one buffer of `bytes` bytes (the sum
 * of prefixes and bodies), so many frames go out in one write. A single large
 * body is not copied: the prefix and the body are returned as a list.
 */
export function encodeFrames (bodies: Array<Uint8Array | Uint8ArrayList>, start: number, end: number, bytes: number): Uint8Array | Uint8ArrayList {
  if (end - start === 1 && bytes > COPY_LIMIT) {
    return new Uint8ArrayList(varint.encode(bodies[start].byteLength), bodies[start])
  }

  const out = new Uint8Array(bytes)
  let offset = 0

  for (let i = start; i < end; i++) {
    const body = bodies[i]
    varint.encodeUint8Array(body.byteLength, out, offset)
    offset += varint.encodingLength(body.byteLength)

    if (body instanceof Uint8Array) {
      out.set(body, offset)
      offset += body.byteLength
    } else {
      for (const chunk of body) {
        out.set(chunk, offset)
        offset += chunk.byteLength
      }
    }
  }

  return out
}

/** Bytes a body takes on the wire with its prefix */
export function framedLength (body: Uint8Array | Uint8ArrayList): number {
  return varint.encodingLength(body.byteLength) + body.byteLength
}
