/**
 * A small engine to benchmark (examples/bench-engine.ts): a transaction is
 * SUCCESS once a quorum of validators, itself included, has acknowledged it.
 * The validator it is submitted to proposes it to every validator it chats
 * with (a CONSENSUS "propose"); each answers "ack" on the same chat.
 *
 * The harness's worker processes import this module and call its default
 * export with the options from the NodeSpec and the node's context.
 */

import { createMessage, Message, PeerEndpoint, response, Response } from '../../src/index.js'
import type { Engine, FabricPeer, HandlerFactory, Transaction } from '../../src/index.js'
import type { EngineContext } from '../../src/testing/index.js'

export interface QuorumOptions {
  /** Acknowledgements needed, the proposer's own included (default: a majority of the validators it knows) */
  quorum?: number
  /** FAILURE after this many ms without a quorum (default 5000) */
  timeout?: number
}

export default function quorumEngine (options: QuorumOptions, ctx: EngineContext): Engine {
  return new QuorumEngine(options, ctx.name)
}

class QuorumEngine implements Engine {
  private peer?: FabricPeer
  /** Transactions proposed here, waiting for acknowledgements */
  private readonly waiting = new Map<string, { acks: number, quorum: number, done: () => void }>()

  constructor (private readonly options: QuorumOptions, private readonly name: string) {}

  start (peer: FabricPeer): void {
    this.peer = peer
  }

  async processTransactionMessage (msg: Message, tx: Transaction): Promise<Response> {
    const validators = this.peer!.getPeers().peers.filter(p => p.type === PeerEndpoint.Type.VALIDATOR).length + 1
    const quorum = this.options.quorum ?? Math.floor(validators / 2) + 1
    let timer: NodeJS.Timeout | undefined
    const acknowledged = new Promise<boolean>(resolve => {
      this.waiting.set(tx.txid, { acks: 1, quorum, done: () => { resolve(true) } })
      timer = setTimeout(() => { resolve(false) }, this.options.timeout ?? 5_000)
    })
    if (quorum > 1) this.peer!.broadcast(createMessage(Message.Type.CONSENSUS, encode('propose', tx.txid)), PeerEndpoint.Type.VALIDATOR)
    const ok = quorum <= 1 || await acknowledged
    clearTimeout(timer)
    this.waiting.delete(tx.txid)
    return ok
      ? response(Response.StatusCode.SUCCESS, `${tx.txid}: ${quorum} of ${validators} validators at ${this.name}`)
      : response(Response.StatusCode.FAILURE, `${tx.txid}: no quorum of ${quorum} in time`)
  }

  getHandlerFactory (): HandlerFactory {
    return (coordinator, chat) => ({
      handleMessage: (msg) => {
        if (msg.type !== Message.Type.CONSENSUS) return
        const [kind, txid] = new TextDecoder().decode(msg.payload).split(' ')
        if (kind === 'propose') {
          chat.send(createMessage(Message.Type.CONSENSUS, encode('ack', txid)))
        } else if (kind === 'ack') {
          const w = this.waiting.get(txid)
          if (w != null && ++w.acks === w.quorum) w.done()
        }
      },
      sendMessage: (msg) => { chat.send(msg) },
      to: () => chat.remoteEndpoint!,
      stop: () => {}
    })
  }
}

function encode (kind: 'propose' | 'ack', txid: string): Uint8Array {
  return new TextEncoder().encode(`${kind} ${txid}`)
}
