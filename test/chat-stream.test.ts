import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { InvalidMessageError } from '@libp2p/interface'
import { MAX_BATCH_BYTES } from '../src/constants.js'
import { ChatClosedError, ChatStream, createMessage, Message, SendQueueFullError } from '../src/index.js'
import { createRawNode, stopAll, waitFor } from './helpers/nodes.js'
import type { ChatStreamInit } from '../src/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'

const PROTOCOL = '/test/chat-stream/1.0.0'

function numbered (i: number, size = 100): Message {
  const payload = new Uint8Array(size)
  new DataView(payload.buffer).setUint32(0, i)
  return createMessage(Message.Type.CONSENSUS, payload)
}

function numberOf (msg: Message): number {
  return new DataView(msg.payload.buffer, msg.payload.byteOffset).getUint32(0)
}

describe('ChatStream over a real yamux stream', () => {
  let a: Libp2p
  let b: Libp2p
  let inbound: Array<(s: Stream) => void> = []

  before(async () => {
    [a, b] = await Promise.all([createRawNode(), createRawNode()])
    await b.handle(PROTOCOL, (stream) => { inbound.shift()?.(stream) })
  })

  after(async () => {
    await stopAll([a, b])
  })

  /** A connected pair: `sender` on a's outbound stream, `receiver` on b's inbound one */
  async function pair (init: ChatStreamInit = {}): Promise<{ sender: ChatStream, receiver: ChatStream }> {
    const accepted = new Promise<Stream>(resolve => { inbound.push(resolve) })
    const out = await a.dialProtocol(b.getMultiaddrs(), PROTOCOL)
    return {
      sender: new ChatStream(out, b.peerId, init),
      receiver: new ChatStream(await accepted, a.peerId, init)
    }
  }

  it('writes the frames queued in one tick with few stream.send calls', async () => {
    const { sender, receiver } = await pair()
    let sends = 0
    const send = sender.stream.send.bind(sender.stream)
    sender.stream.send = (data) => { sends++; return send(data) }

    for (let i = 0; i < 1000; i++) {
      sender.send(numbered(i))
    }

    const got: number[] = []
    for await (const msg of receiver) {
      got.push(numberOf(msg))
      if (got.length === 1000) break
    }

    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i))
    // 1000 frames of ~110 bytes fit in one 256 KiB batch
    assert.equal(sends, 1)
    assert.equal(sender.initiated, true)
    assert.equal(receiver.initiated, false)
  })

  it('a reader that stops reading pauses the stream, the sender\'s queue fills to its bound, and everything arrives once reading resumes', async () => {
    const sendQueueSize = 200
    const { sender, receiver } = await pair({ sendQueueSize, receiveQueueSize: 50 })
    const payloadSize = 8 * 1024
    let sent = 0
    let full: Error | undefined

    // nobody reads `receiver` yet: keep sending until the sender's own queue refuses
    while (full == null && sent < 10_000) {
      try {
        sender.send(numbered(sent, payloadSize))
        sent++
      } catch (err: any) {
        full = err
      }

      if (sent % 50 === 0) {
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }

    assert.ok(full instanceof SendQueueFullError, `expected SendQueueFullError, got ${full}`)
    assert.equal(sender.queued, sendQueueSize)
    // what left the sender is held by the paused receiver and the muxer's window, not an unbounded buffer
    assert.equal(receiver.stream.readStatus, 'paused')
    assert.ok(sender.stream.writeBufferLength <= MAX_BATCH_BYTES, `stream write buffer holds ${sender.stream.writeBufferLength} bytes`)
    assert.ok(sent < 10_000)

    const got: number[] = []
    for await (const msg of receiver) {
      got.push(numberOf(msg))
      if (got.length === sent) break
    }

    assert.deepEqual(got, Array.from({ length: sent }, (_, i) => i))
    await waitFor(() => sender.queued === 0, 'the sender queue to drain')
    sender.send(numbered(0))
  })

  it('onDrain waits for room after SendQueueFullError instead of a retry loop, and fails when the chat closes', async () => {
    const sendQueueSize = 100
    const { sender, receiver } = await pair({ sendQueueSize, receiveQueueSize: 20 })
    await sender.onDrain() // room now: at once
    let sent = 0

    // nobody reads: fill until refused, waiting on onDrain with a short timeout that must expire
    for (;;) {
      try {
        sender.send(numbered(sent, 8 * 1024))
        sent++
      } catch (err) {
        assert.ok(err instanceof SendQueueFullError)
        const drained = await sender.onDrain({ signal: AbortSignal.timeout(200) }).then(() => true, () => false)
        if (!drained) break
      }
    }
    assert.equal(sender.queued, sendQueueSize)

    let resolved = false
    const waiting = sender.onDrain({ signal: AbortSignal.timeout(10_000) }).then(() => { resolved = true; return sender.queued })
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(resolved, false, 'no room while the peer reads nothing')

    const got: number[] = []
    const reading = (async () => { for await (const msg of receiver) { got.push(numberOf(msg)); if (got.length === sent) break } })()
    assert.ok(await waiting <= sendQueueSize / 2, 'resolved once the queue was at most half full')
    await reading
    assert.deepEqual(got, Array.from({ length: sent }, (_, i) => i))

    // a chat that closes while someone waits: ChatClosedError, not a hang
    const other = await pair({ sendQueueSize: 10, receiveQueueSize: 5 })
    for (let i = 0; i < 2_000 && other.sender.queued < 10; i++) {
      try { other.sender.send(numbered(i, 64 * 1024)) } catch {}
      if (i % 10 === 9) await new Promise(resolve => setTimeout(resolve, 5))
    }
    const closed = other.sender.onDrain({ signal: AbortSignal.timeout(10_000) })
    other.sender.abort(new Error('gone'))
    await assert.rejects(closed, ChatClosedError)
    await assert.rejects(other.sender.onDrain(), ChatClosedError)
  })

  it('refuses a message over maxMessageSize and sends on a closed chat', async () => {
    const { sender, receiver } = await pair({ maxMessageSize: 1024 })

    assert.throws(() => { sender.send(createMessage(Message.Type.CONSENSUS, new Uint8Array(2048))) }, InvalidMessageError)

    sender.send(numbered(7))
    await sender.close()
    assert.throws(() => { sender.send(numbered(8)) }, ChatClosedError)

    const got: Message[] = []
    for await (const msg of receiver) {
      got.push(msg)
    }
    // the message queued before close was flushed first, then the iterator ended
    assert.deepEqual(got.map(numberOf), [7])
  })

  it('a peer that sends and closes while the reader is paused: every frame arrives, the last one too', async () => {
    const { sender, receiver } = await pair({ receiveQueueSize: 10 })
    const count = 900

    for (let i = 0; i < count; i++) {
      sender.send(numbered(i, 3000))
    }
    sender.send(createMessage(Message.Type.DISC_DISCONNECT, new TextEncoder().encode('bye')))
    const closing = sender.close()

    const got: Message[] = []
    for await (const msg of receiver) {
      got.push(msg)
      // a slow reader: the stream pauses, and the peer's FIN arrives behind buffered frames
      await new Promise(resolve => setImmediate(resolve))
    }
    await closing

    assert.equal(got.length, count + 1)
    assert.deepEqual(got.slice(0, count).map(numberOf), Array.from({ length: count }, (_, i) => i))
    assert.equal(got[count].type, Message.Type.DISC_DISCONNECT)
  })

  it('large frames pause the reader by bytes, not only by count, and bound the sender\'s queue by bytes', async () => {
    const { sender, receiver } = await pair({ receiveQueueSize: 1000, receiveQueueBytes: 4 * 1024 * 1024, sendQueueBytes: 8 * 1024 * 1024 })
    let sent = 0
    let full: Error | undefined

    while (full == null && sent < 1000) {
      try {
        sender.send(numbered(sent, 1024 * 1024))
        sent++
      } catch (err: any) {
        full = err
      }
      await new Promise(resolve => setTimeout(resolve, 2))
    }

    assert.ok(full instanceof SendQueueFullError, `expected SendQueueFullError, got ${full}`)
    assert.ok(sent < 100, `${sent} MiB accepted`)
    await waitFor(() => receiver.stream.readStatus === 'paused', 'the reader to pause')

    let got = 0
    for await (const msg of receiver) {
      assert.equal(numberOf(msg), got++)
      if (got === sent) break
    }
  })

  it('a chat has one reader', async () => {
    const { receiver } = await pair()
    receiver[Symbol.asyncIterator]()
    assert.throws(() => receiver[Symbol.asyncIterator](), /already has a reader/)
  })

  it('ends the iterator with the error when the stream is reset', async () => {
    const { sender, receiver } = await pair()
    sender.abort(new Error('gone'))

    await assert.rejects((async () => {
      for await (const msg of receiver) {
        assert.fail(`unexpected ${msg.type}`)
      }
    })(), /reset/)
  })
})
