import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { FrameDecoder, encodeFrames, framedLength } from '../../src/chat/frames.js'
import { CHAT_PROTOCOL, createMessage, HelloMessage, libp2pSecurityHelper, Message, PeerEndpoint, signMessage } from '../../src/index.js'
import { createRawNode } from './nodes.js'
import type { BlockchainInfo } from '../../src/index.js'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
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
  /** Called with every message the fake receives, after it is recorded */
  onMessage?: (msg: Message) => void

  private constructor (node: Libp2p) {
    this.node = node
  }

  /** With a key, the fake can sign (`sign`) as the peer it is */
  static async create (privateKey?: PrivateKey): Promise<FakePeer> {
    const fake = new FakePeer(await createRawNode(privateKey))
    fake.privateKey = privateKey
    return fake
  }

  privateKey?: PrivateKey

  /** The message signed with the fake's key, as a secure peer would */
  sign (msg: Message): Message {
    if (this.privateKey == null) throw new Error('this fake peer has no key to sign with')
    return signMessage(libp2pSecurityHelper(this.privateKey), msg)
  }

  /** Open a chat with `target` and exchange hellos, as the given role (signed if the fake has a key) */
  async hello (target: Multiaddr[], type = PeerEndpoint.Type.VALIDATOR, blockchainInfo?: BlockchainInfo, address?: string): Promise<void> {
    const stream = await this.node.dialProtocol(target, CHAT_PROTOCOL)
    this.stream = stream
    const decoder = new FrameDecoder(64 * 1024 * 1024)
    const answered = new Promise<void>((resolve, reject) => {
      stream.addEventListener('message', (evt) => {
        for (const f of decoder.push(evt.data)) {
          const msg = Message.decode(f)
          this.received.push(msg)
          this.onMessage?.(msg)
          if (msg.type === Message.Type.DISC_HELLO) resolve()
        }
      })
      stream.addEventListener('close', () => { reject(new Error('closed before the hello answer')) })
    })
    const hello = createMessage(Message.Type.DISC_HELLO, HelloMessage.encode({
      peerEndpoint: {
        ID: { name: this.node.peerId.toString() },
        address: address ?? this.node.getMultiaddrs()[0].toString(),
        type,
        pkiID: publicKeyToProtobuf(this.node.peerId.publicKey!) as Uint8Array<ArrayBuffer>
      },
      blockchainInfo
    }))
    this.send(this.privateKey == null ? hello : this.sign(hello))
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
