/**
 * P1: one-way rate of 100-byte CONSENSUS messages over one connection, for the
 * Chat and for baselines measured in the same process:
 * - a raw libp2p stream (TCP + Noise + yamux) with the same framing, 64 frames per send()
 * - a raw TCP socket with the same framing and batching (no encryption, no muxer)
 * - @grpc/grpc-js bidirectional streaming, plaintext and TLS (a generated certificate)
 * Each sender respects its transport's backpressure; the receiver counts decoded messages.
 */

import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { generate } from 'selfsigned'
import { encodeFrames, FrameDecoder, framedLength } from '../../src/chat/frames.js'
import { createMessage, Message } from '../../src/index.js'
import { createNode, createRawNode } from '../helpers/nodes.js'
import { sendAll } from './chat-bench.js'
import type { Socket } from 'node:net'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RateResult {
  name: string
  messages: number
  seconds: number
  rate: number
}

const PAYLOAD = new Uint8Array(100)
const BATCH = 64

/** `count` freshly encoded 100-byte CONSENSUS messages, length-prefixed into one buffer, as the baselines send them */
function batch (count: number): Uint8Array | Uint8ArrayList {
  const bodies = Array.from({ length: count }, () => Message.encode(createMessage(Message.Type.CONSENSUS, PAYLOAD)))
  return encodeFrames(bodies, 0, count, bodies.reduce((n, b) => n + framedLength(b), 0))
}

function result (name: string, messages: number, ms: number): RateResult {
  return { name, messages, seconds: ms / 1000, rate: messages / (ms / 1000) }
}

/** The Chat, as an engine sees it: messages counted in a handler */
export async function chatRate (messages: number): Promise<RateResult> {
  let received = 0
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  const receiver = await createNode({
    fabric: {
      touchPeriod: 0,
      maxMessagesPerSecond: 1e9,
      handlerFactory: (c, chat) => ({
        handleMessage: () => { if (++received === messages) done() },
        sendMessage: (m) => { chat.send(m) },
        to: () => chat.remoteEndpoint!,
        stop: () => {}
      })
    }
  })
  const sender = await createNode({ fabric: { touchPeriod: 0, sendQueueSize: 4_096 } })

  try {
    await sender.services.fabric.chatWithPeer(receiver.getMultiaddrs())
    const start = performance.now()
    await sendAll(sender, receiver, createMessage(Message.Type.CONSENSUS, PAYLOAD), messages)

    await finished
    return result('fabric chat', messages, performance.now() - start)
  } finally {
    await Promise.all([sender.stop(), receiver.stop()])
  }
}

/** The same frames, BATCH per send(), on a bare libp2p stream */
export async function rawLibp2pRate (messages: number): Promise<RateResult> {
  const protocol = '/bench/raw/1.0.0'
  const [a, b] = await Promise.all([createRawNode(), createRawNode()])
  let received = 0
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })

  await b.handle(protocol, (stream) => {
    const decoder = new FrameDecoder(4 * 1024 * 1024)
    stream.addEventListener('message', (evt) => {
      for (const frame of decoder.push(evt.data)) {
        Message.decode(frame)
        if (++received === messages) done()
      }
    })
  })

  try {
    const stream = await a.dialProtocol(b.getMultiaddrs(), protocol)
    const start = performance.now()

    for (let sent = 0; sent < messages; sent += BATCH) {
      if (!stream.send(batch(Math.min(BATCH, messages - sent)))) {
        await once(stream as any, 'drain')
      }
    }

    await finished
    return result('raw libp2p stream', messages, performance.now() - start)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
}

/** The same frames and batching on a plain TCP socket */
export async function rawTcpRate (messages: number): Promise<RateResult> {
  let received = 0
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  const server = createServer((socket) => {
    const decoder = new FrameDecoder(4 * 1024 * 1024)
    socket.on('data', (data) => {
      for (const frame of decoder.push(data)) {
        Message.decode(frame)
        if (++received === messages) done()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket: Socket = connect((server.address() as { port: number }).port, '127.0.0.1')
  await once(socket, 'connect')

  try {
    const start = performance.now()

    for (let sent = 0; sent < messages; sent += BATCH) {
      if (!socket.write(batch(Math.min(BATCH, messages - sent)) as Uint8Array)) {
        await once(socket, 'drain')
      }
    }

    await finished
    return result('raw TCP socket', messages, performance.now() - start)
  } finally {
    socket.destroy()
    server.close()
  }
}

const chatService: grpc.ServiceDefinition = {
  chat: {
    path: '/protos.Peer/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: Message) => Buffer.from(Message.encode(m)),
    requestDeserialize: (b: Buffer) => Message.decode(b),
    responseSerialize: (m: Message) => Buffer.from(Message.encode(m)),
    responseDeserialize: (b: Buffer) => Message.decode(b)
  }
}

/** Fabric v0.6's own transport: a gRPC bidirectional Chat stream */
export async function grpcRate (messages: number, tls: boolean): Promise<RateResult> {
  let received = 0
  let done!: () => void
  const finished = new Promise<void>(resolve => { done = resolve })
  const server = new grpc.Server()
  server.addService(chatService, {
    chat: (call: grpc.ServerDuplexStream<Message, Message>) => {
      call.on('data', () => { if (++received === messages) done() })
      call.on('end', () => { call.end() })
    }
  })

  let serverCredentials = grpc.ServerCredentials.createInsecure()
  let clientCredentials = grpc.credentials.createInsecure()

  if (tls) {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048 })
    serverCredentials = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(pems.private), cert_chain: Buffer.from(pems.cert) }], false)
    clientCredentials = grpc.credentials.createSsl(Buffer.from(pems.cert))
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', serverCredentials, (err, p) => { err != null ? reject(err) : resolve(p) })
  })
  const Client = grpc.makeGenericClientConstructor(chatService, 'Peer')
  const client = new Client(`localhost:${port}`, clientCredentials) as any
  const call: grpc.ClientDuplexStream<Message, Message> = client.chat()
  // closing the client after the run cancels the call: expected, not a failure
  call.on('error', (err: grpc.ServiceError) => { if (err.code !== grpc.status.CANCELLED) throw err })

  try {
    const msg = createMessage(Message.Type.CONSENSUS, PAYLOAD)
    const start = performance.now()

    for (let sent = 0; sent < messages; sent++) {
      if (!call.write(msg)) {
        await once(call, 'drain')
      }
    }

    await finished
    return result(tls ? 'grpc-js TLS' : 'grpc-js plaintext', messages, performance.now() - start)
  } finally {
    call.end()
    client.close()
    server.forceShutdown()
  }
}
