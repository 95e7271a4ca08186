import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as varint from 'uint8-varint'
import { FrameDecoder } from '../src/chat/frames.js'
import { CHAT_PROTOCOL, createMessage, HelloMessage, Message, PeerEndpoint, PeerRejectedError } from '../src/index.js'
import { frame } from './helpers/fake-peer.js'
import { createNode, createRawNode, nextEvent, stopAll } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

const HELLO_TIMEOUT = 500

function hello (endpoint: Partial<PeerEndpoint>): Message {
  return createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
    peerEndpoint: { type: PeerEndpoint.Type.VALIDATOR, address: '', pkiID: new Uint8Array(0), ...endpoint }
  }))
}

async function otherIdentity (): Promise<{ peerId: PeerId, pkiID: Uint8Array<ArrayBuffer> }> {
  const key = await generateKeyPair('Ed25519')
  return { peerId: peerIdFromPrivateKey(key), pkiID: publicKeyToProtobuf(key.publicKey) as Uint8Array<ArrayBuffer> }
}

/** Everything the stream delivers until it closes, as decoded messages; fails if it is not closed within `timeout` */
async function readUntilClosed (stream: Stream, timeout = 5_000): Promise<Message[]> {
  const decoder = new FrameDecoder(64 * 1024 * 1024)
  const messages: Message[] = []

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`stream still ${stream.status} after ${timeout}ms`)) }, timeout)
    stream.addEventListener('message', (evt) => {
      messages.push(...decoder.push(evt.data).map(f => Message.decode(f)))
    })
    const done = (): void => { clearTimeout(timer); resolve(messages) }
    stream.addEventListener('close', done)
    stream.addEventListener('remoteCloseWrite', () => { stream.close().then(done, done) })
  })
}

describe('a peer that breaks the Chat protocol is rejected', () => {
  let target: FabricNode
  let good: FabricNode
  const raws: Libp2p[] = []
  const establishedWith: string[] = []

  before(async () => {
    target = await createNode({ fabric: { helloTimeout: HELLO_TIMEOUT } })
    good = await createNode()
    target.services.fabric.addEventListener('peer:established', (evt) => { establishedWith.push(evt.detail.peerId.toString()) })
  })

  after(async () => {
    await stopAll([target, good, ...raws])
  })

  /** Open a raw chat stream at the target, send `bytes`, and return the rejection reason and what came back */
  async function attack (bytes: Uint8Array | undefined | ((raw: Libp2p) => Uint8Array), expected: RegExp): Promise<{ reason: string, received: Message[], raw: Libp2p, opened: number }> {
    const raw = await createRawNode()
    raws.push(raw)
    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(raw.peerId), HELLO_TIMEOUT + 5_000)
    const stream = await raw.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL)
    const opened = Date.now()
    const received = readUntilClosed(stream, HELLO_TIMEOUT + 5_000)

    if (bytes != null) {
      stream.send(typeof bytes === 'function' ? bytes(raw) : bytes)
    }

    const { reason } = await rejected
    assert.match(reason, expected)
    return { reason, received: await received, raw, opened }
  }

  /** A rejection with the stream still usable ends with DISC_DISCONNECT carrying the reason */
  function assertDisconnectedWith (received: Message[], reason: string): void {
    const last = received.at(-1)
    assert.equal(last?.type, Message.Type.DISC_DISCONNECT)
    assert.equal(new TextDecoder().decode(last?.payload), reason)
    assert.ok(!received.some(m => m.type === Message.Type.DISC_HELLO), 'the target never answered with its hello')
  }

  it('(a) garbage bytes: an undecodable frame aborts the stream', async () => {
    // field 1 with wire type 7, which does not exist
    await attack(frame(Uint8Array.of(0x0f, 0x01, 0x02)), /Undecodable frame/)
  })

  it('(a) garbage bytes: a length prefix that never ends aborts the stream', async () => {
    await attack(new Uint8Array(64).fill(0xff), /Undecodable frame: Frame of at least \d+ bytes exceeds the limit/)
  })

  it('(b) a frame over maxMessageSize aborts the stream before its body is read', async () => {
    const prefix = varint.encode(4 * 1024 * 1024 + 1)
    await attack(Uint8Array.from([...prefix, 1, 2, 3]), /exceeds the limit of 4194304/)
  })

  it('(c) a CONSENSUS message before the hello', async () => {
    const { reason, received } = await attack(frame(createMessage(Message.Type.CONSENSUS, Uint8Array.of(1))), /^CONSENSUS before DISC_HELLO$/)
    assertDisconnectedWith(received, reason)
  })

  it('(d) a hello claiming another PeerId', async () => {
    const other = await otherIdentity()
    const { reason, received } = await attack(frame(hello({ ID: { name: other.peerId.toString() }, pkiID: other.pkiID })), /hello claims PeerId/)
    assertDisconnectedWith(received, reason)
  })

  it('(d) a hello with our PeerId but someone else\'s public key', async () => {
    const other = await otherIdentity()
    const { reason, received } = await attack(raw => frame(hello({ ID: { name: raw.peerId.toString() }, pkiID: other.pkiID })), /pkiID is the key of/)
    assertDisconnectedWith(received, reason)
  })

  it('(d) a hello whose address names another peer', async () => {
    const other = await otherIdentity()
    const { reason, received } = await attack(raw => frame(hello({ ID: { name: raw.peerId.toString() }, address: `/ip4/127.0.0.1/tcp/1/p2p/${other.peerId}` })), /does not end in/)
    assertDisconnectedWith(received, reason)
  })

  it('a hello with an undecodable payload', async () => {
    const { reason, received } = await attack(frame(createMessage(Message.Type.DISC_HELLO, Uint8Array.of(0x0a, 0xff))), /undecodable DISC_HELLO payload/)
    assertDisconnectedWith(received, reason)
  })

  it('a peer that never says hello is dropped after helloTimeout', async () => {
    const { reason, received, opened } = await attack(undefined, /no DISC_HELLO accepted within 500ms/)
    // the target's timer started before our dial resolved, so measured from then it may read a little short
    assert.ok(Date.now() - opened >= HELLO_TIMEOUT - 100, `dropped after ${Date.now() - opened}ms`)
    assertDisconnectedWith(received, reason)
  })

  it('the dialing side rejects a listener that answers with a forged hello', async () => {
    const other = await otherIdentity()
    const fake = await createRawNode()
    raws.push(fake)
    await fake.handle(CHAT_PROTOCOL, (stream) => {
      stream.send(frame(hello({ ID: { name: other.peerId.toString() }, pkiID: other.pkiID })))
    })

    const rejected = nextEvent(target.services.fabric, 'peer:rejected', d => d.peerId.equals(fake.peerId))
    await assert.rejects(target.services.fabric.chatWithPeer(fake.getMultiaddrs()), PeerRejectedError)
    assert.match((await rejected).reason, /hello claims PeerId/)
    assert.equal(target.services.fabric.isEstablished(fake.peerId), false)
  })

  it('after all of that the node still chats with an honest peer, and never registered the others', async () => {
    await good.services.fabric.chatWithPeer(target.getMultiaddrs())
    const got = nextEvent(target.services.fabric, 'message', d => d.message.type === Message.Type.CONSENSUS)
    good.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(42)), target.peerId)

    assert.deepEqual(Uint8Array.from((await got).message.payload), Uint8Array.of(42))
    assert.deepEqual(target.services.fabric.getPeers().peers.map(p => p.ID?.name), [good.peerId.toString()])
    assert.deepEqual(establishedWith, [good.peerId.toString()])
  })
})
