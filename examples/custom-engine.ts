/**
 * Writing an engine: the peer layer hands every message it does not handle
 * itself (everything but DISC_*) to a handler your engine makes for each chat,
 * and gives it transactions submitted to a validator.
 *
 * This toy engine counts "votes": each validator broadcasts one CONSENSUS vote
 * to the others when it starts chatting, and answers transactions with how
 * many votes it has seen. Three validators in one process.
 *
 *   npm run example:engine
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { createMessage, fabricPeer, Message, PeerEndpoint, response, Response, responseText, Transaction } from '../src/index.js'
import type { ChatSender, Engine, FabricPeer, HandlerFactory, MessageHandler, MessageHandlerCoordinator } from '../src/index.js'

class VoteCounter implements Engine {
  votes = 0
  private peer?: FabricPeer

  constructor (readonly name: string) {}

  // the peer hands itself to the engine when it starts
  start (peer: FabricPeer): void {
    this.peer = peer
  }

  // one handler per established chat
  getHandlerFactory (): HandlerFactory {
    return (coordinator: MessageHandlerCoordinator, chat: ChatSender): MessageHandler => {
      // say hello the engine's way on every new chat
      chat.send(createMessage(Message.Type.CONSENSUS, new TextEncoder().encode(`vote from ${this.name}`)))
      return {
        handleMessage: (msg) => {
          if (msg.type === Message.Type.CONSENSUS) {
            this.votes++
            console.info(`${this.name}: got "${new TextDecoder().decode(msg.payload)}" (${this.votes} votes so far)`)
          }
        },
        sendMessage: (msg) => { chat.send(msg) },
        to: () => chat.remoteEndpoint as PeerEndpoint,
        stop: () => { console.info(`${this.name}: chat with ${chat.remotePeer.toString().slice(-6)} ended`) }
      }
    }
  }

  // transactions submitted to this validator
  processTransactionMessage (msg: Message, tx: Transaction): Response {
    return response(Response.StatusCode.SUCCESS, `${this.name} has seen ${this.votes} votes; your transaction was ${tx.txid}, chats: ${this.peer?.getPeers().peers.length}`)
  }
}

const engines = ['val0', 'val1', 'val2'].map(name => new VoteCounter(name))
const nodes = await Promise.all(engines.map(async engine => createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { fabric: fabricPeer({ engine }) }
})))

await nodes[1].services.fabric.chatWithPeer(nodes[0].getMultiaddrs())
await nodes[2].services.fabric.chatWithPeer(nodes[0].getMultiaddrs())
await nodes[2].services.fabric.chatWithPeer(nodes[1].getMultiaddrs())
await new Promise(resolve => setTimeout(resolve, 300))

const tx: Transaction = { type: Transaction.Type.CHAINCODE_QUERY, chaincodeID: new Uint8Array(0), payload: new Uint8Array(0), metadata: new Uint8Array(0), txid: 'how-many-votes', nonce: new Uint8Array(0), cert: new Uint8Array(0), signature: new Uint8Array(0) }
const res = await nodes[2].services.fabric.processTransaction(tx)
console.info(`\ntransaction at val2: ${res.status} - ${responseText(res)}\n`)

await Promise.all(nodes.map(async n => n.stop()))
