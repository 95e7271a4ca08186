import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidMessageError } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrames, encodeMessage, FrameDecoder, framedLength } from '../src/chat/frames.js'
import { Message } from '../src/pb/fabric.js'

function frame (body: Uint8Array): Uint8Array {
  return encodeFrames([body], 0, 1, framedLength(body)).subarray()
}

describe('frames', () => {
  it('packs several bodies into one buffer and decodes them back', () => {
    const bodies = [Uint8Array.of(1), new Uint8Array(200).fill(7), new Uint8Array(0), Uint8Array.of(9, 9)]
    const bytes = bodies.reduce((n, b) => n + framedLength(b), 0)
    const packed = encodeFrames(bodies, 0, bodies.length, bytes)

    assert.ok(packed instanceof Uint8Array)
    assert.equal(packed.byteLength, bytes)
    assert.deepEqual(new FrameDecoder(1024).push(packed).map(f => Uint8Array.from(f)), bodies)
  })

  it('sends one large body as prefix + body without copying it', () => {
    const body = new Uint8Array(100_000)
    const out = encodeFrames([body], 0, 1, framedLength(body))

    assert.ok(out instanceof Uint8ArrayList)
    assert.equal(out.byteLength, framedLength(body))
  })

  it('reassembles frames split at every byte boundary', () => {
    const bodies = [new Uint8Array(300).fill(1), Uint8Array.of(2, 3), new Uint8Array(130).fill(4)]
    const wire = new Uint8ArrayList(...bodies.map(frame)).subarray()
    const decoder = new FrameDecoder(1024)
    const out: Uint8Array[] = []

    for (let i = 0; i < wire.byteLength; i++) {
      out.push(...decoder.push(wire.subarray(i, i + 1)))
    }

    assert.deepEqual(out.map(f => Uint8Array.from(f)), bodies)
    assert.equal(decoder.buffered, 0)
  })

  it('rejects a frame over the limit as soon as its prefix is read, before its body arrives', () => {
    const decoder = new FrameDecoder(1000)
    const prefixOnly = frame(new Uint8Array(1001)).subarray(0, 2)

    assert.throws(() => decoder.push(prefixOnly), InvalidMessageError)
  })

  it('rejects a length prefix that never ends instead of buffering it forever', () => {
    const decoder = new FrameDecoder(Number.MAX_SAFE_INTEGER)
    assert.deepEqual(decoder.push(Uint8Array.of(0xff, 0xff)), [])
    assert.throws(() => decoder.push(new Uint8Array(10).fill(0xff)), /longer than 5 bytes/)
  })

  it('accepts a frame of exactly the limit', () => {
    const body = new Uint8Array(1000).fill(5)
    assert.deepEqual(new FrameDecoder(1000).push(frame(body)).map(f => Uint8Array.from(f)), [body])
  })

  it('encodes a message with a large payload to the same bytes as protons, without copying the payload', () => {
    const sizes = [0, 1, 65_536, 65_537, 70_000, 1 << 20]
    const stamps = [undefined, { seconds: 0, nanos: 0 }, { seconds: 1_700_000_000, nanos: 123 }]
    const types = [Message.Type.UNDEFINED, Message.Type.CONSENSUS, Message.Type.SYNC_BLOCKS]
    const sigs = [new Uint8Array(0), new Uint8Array(64).fill(3)]

    for (const size of sizes) {
      const payload = new Uint8Array(size).map((_, i) => i & 255)
      for (const timestamp of stamps) {
        for (const type of types) {
          for (const signature of sigs) {
            const msg: Message = { type, timestamp, payload, signature }
            const encoded = encodeMessage(msg)
            assert.deepEqual(encoded instanceof Uint8Array ? encoded : encoded.subarray(), Message.encode(msg), `size ${size}, type ${type}, timestamp ${JSON.stringify(timestamp)}, signature ${signature.byteLength}`)
            if (size > 65_536) {
              assert.ok(encoded instanceof Uint8ArrayList && [...encoded].includes(payload), 'the payload is referenced, not copied')
            }
          }
        }
      }
    }
  })

  it('packs list bodies with plain ones into one buffer', () => {
    const big = encodeMessage({ type: Message.Type.CONSENSUS, payload: new Uint8Array(70_000).fill(1), signature: new Uint8Array(0) })
    const bodies = [Uint8Array.of(1, 2), big, Uint8Array.of(3)]
    const packed = encodeFrames(bodies, 0, 3, bodies.reduce((n, b) => n + framedLength(b), 0))
    const frames = new FrameDecoder(1 << 20).push(packed).map(f => Uint8Array.from(f))
    assert.deepEqual(frames, [Uint8Array.of(1, 2), big.subarray(), Uint8Array.of(3)])
  })
})
