import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidMessageError } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { encodeFrames, FrameDecoder, framedLength } from '../src/chat/frames.js'

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
})
