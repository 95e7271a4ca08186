import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { createMessage, Message, PeerEndpoint, Response } from '../src/index.js'
import { createNode, nextEvent, stopAll, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { ChatSender, Engine, HandlerFactory, MessageHandler, MessageHandlerCoordinator } from '../src/index.js'

/** Records what the peer layer hands it; answers every CONSENSUS with a RESPONSE on the same chat */
class RecordingHandler implements MessageHandler {
  readonly received: Message.Type[] = []
  stopped = false
  constructor (readonly coordinator: MessageHandlerCoordinator, readonly chat: ChatSender, readonly initiated: boolean) {}

  handleMessage (msg: Message): void {
    this.received.push(msg.type)
    if (msg.type === Message.Type.CONSENSUS) {
      this.sendMessage(createMessage(Message.Type.RESPONSE, msg.payload))
    }
    if (msg.type === Message.Type.SYNC_BLOCK_ADDED) {
      throw new Error('engine failure')
    }
  }

  sendMessage (msg: Message): void { this.chat.send(msg) }
  to (): PeerEndpoint { return this.chat.remoteEndpoint! }
  stop (): void { this.stopped = true }
}

const nodes: FabricNode[] = []

afterEach(async () => { await stopAll(nodes.splice(0)) })

describe('engine extension point', () => {
  it('the engine\'s handler gets every message but the peer layer\'s own, and is stopped when the chat ends', async () => {
    const handlers: RecordingHandler[] = []
    const factory: HandlerFactory = (coordinator, chat, initiated) => {
      const h = new RecordingHandler(coordinator, chat, initiated)
      handlers.push(h)
      return h
    }
    const engine: Engine = {
      getHandlerFactory: () => factory,
      processTransactionMessage: () => ({ status: Response.StatusCode.SUCCESS, msg: new Uint8Array(0) })
    }
    const a = await createNode({ fabric: { engine, discoveryPeriod: 100 } })
    const b = await createNode({ fabric: { validator: false } })
    nodes.push(a, b)

    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    await waitFor(() => handlers.length === 1, 'the engine handler')
    const [h] = handlers

    assert.equal(h.initiated, false)
    assert.equal(h.to().ID?.name, b.peerId.toString())
    assert.equal(h.to().type, PeerEndpoint.Type.NON_VALIDATOR)
    assert.equal(h.coordinator.getPeers().peers.length, 1)

    const reply = nextEvent(b.services.fabric, 'message', d => d.message.type === Message.Type.RESPONSE)
    // an engine error is logged, not a reason to drop the peer: the chat goes on
    b.services.fabric.unicast(createMessage(Message.Type.SYNC_BLOCK_ADDED), a.peerId)
    b.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(5)), a.peerId)
    assert.deepEqual(Uint8Array.from((await reply).message.payload), Uint8Array.of(5))

    // b answers a's periodic DISC_GET_PEERS: a's engine never sees DISC_ messages
    await nextEvent(a.services.fabric, 'message', d => d.message.type === Message.Type.DISC_PEERS)
    assert.deepEqual(h.received, [Message.Type.SYNC_BLOCK_ADDED, Message.Type.CONSENSUS])

    const closed = nextEvent(a.services.fabric, 'peer:closed')
    await b.stop()
    await closed
    assert.equal(h.stopped, true)
  })

  it('a handlerFactory alone plugs in the same way (NewPeerWithHandler)', async () => {
    const handlers: RecordingHandler[] = []
    const a = await createNode({ fabric: { handlerFactory: (c, s, i) => { const h = new RecordingHandler(c, s, i); handlers.push(h); return h } } })
    const b = await createNode()
    nodes.push(a, b)

    await a.services.fabric.chatWithPeer(b.getMultiaddrs())
    const reply = nextEvent(b.services.fabric, 'message', d => d.message.type === Message.Type.RESPONSE)
    b.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(9)), a.peerId)
    await reply

    assert.equal(handlers.length, 1)
    assert.equal(handlers[0].initiated, true)
    assert.deepEqual(handlers[0].received, [Message.Type.CONSENSUS])
  })

  it('a stalled engine pushes back on a well-behaved sender without resetting its chat, and cannot hang stop()', async () => {
    const stalled: HandlerFactory = (coordinator, chat) => ({
      handleMessage: async () => new Promise<void>(() => {}),
      sendMessage: (msg) => { chat.send(msg) },
      to: () => chat.remoteEndpoint!,
      stop: async () => new Promise<void>(() => {})
    })
    const a = await createNode({ fabric: { handlerFactory: stalled } })
    const b = await createNode()
    nodes.push(b)

    await b.services.fabric.chatWithPeer(a.getMultiaddrs())
    let sent = 0
    const deadline = Date.now() + 3_000

    // 10 KB messages until the sender's own queue says stop, as a good sender would
    while (Date.now() < deadline) {
      try {
        b.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, new Uint8Array(10_000)), a.peerId)
        sent++
      } catch (err: any) {
        assert.equal(err.name, 'SendQueueFullError')
        break
      }
      if (sent % 100 === 0) await new Promise(resolve => setTimeout(resolve, 5))
    }

    assert.ok(Date.now() < deadline, 'the sender never felt backpressure')
    assert.ok(b.services.fabric.isEstablished(a.peerId), 'the chat was reset')

    // every wait in stop() is bounded, whatever the engine does
    const stopped = await Promise.race([Promise.resolve(a.stop()).then(() => true), new Promise(resolve => setTimeout(() => { resolve(false) }, 15_000))])
    assert.equal(stopped, true, 'stop() did not return')
  })
})
