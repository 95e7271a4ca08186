import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { FrameDecoder, encodeFrames, framedLength } from '../../src/chat/frames.js'
import { CHAT_PROTOCOL, createMessage, HelloMessage, Message, PeerEndpoint } from '../../src/index.js'
import { createRawNode } from './nodes.js'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** A length-prefixed frame of a Message (or of raw bytes) */
export function frame (msg: Message | Uint8Array): Uint8Array {
  const body = msg instanceof Uint8Array ? msg : Message.encode(msg)
  return encodeFrames([body], 0, 1, framedLength(body)).subarray()
}

/**
 * A plain libp2p node that speaks the Chat protocol by hand: it completes a
 * correct hello with a fabric node, then sends whatever the test wants.
 */
export class FakePeer {
  readonly node: Libp2p
  stream?: Stream
  readonly received: Message[] = []

  private constructor (node: Libp2p) {
    this.node = node
  }

  static async create (): Promise<FakePeer> {
    return new FakePeer(await createRawNode())
  }

  /** Open a chat with `target` and exchange hellos, as the given role */
  async hello (target: Multiaddr[], type = PeerEndpoint.Type.VALIDATOR): Promise<void> {
    const stream = await this.node.dialProtocol(target, CHAT_PROTOCOL)
    this.stream = stream
    const decoder = new FrameDecoder(64 * 1024 * 1024)
    const answered = new Promise<void>((resolve, reject) => {
      stream.addEventListener('message', (evt) => {
        for (const f of decoder.push(evt.data)) {
          const msg = Message.decode(f)
          this.received.push(msg)
          if (msg.type === Message.Type.DISC_HELLO) resolve()
        }
      })
      stream.addEventListener('close', () => { reject(new Error('closed before the hello answer')) })
    })
    this.send(createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
      peerEndpoint: {
        ID: { name: this.node.peerId.toString() },
        address: this.node.getMultiaddrs()[0].toString(),
        type,
        pkiID: publicKeyToProtobuf(this.node.peerId.publicKey!) as Uint8Array<ArrayBuffer>
      }
    })))
    await answered
  }

  send (msg: Message | Uint8Array): void {
    if (this.stream == null) throw new Error('no chat stream')
    this.stream.send(frame(msg))
  }

  async stop (): Promise<void> {
    await this.node.stop()
  }
}
