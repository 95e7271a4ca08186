/**
 * An attacker on `/fabric/transaction/1.0.0`, in a process of its own so that
 * the test process's memory is the target node's: plain libp2p nodes
 * (`createRawNode`) that open raw streams themselves and write a varint length
 * prefix and part of the frame it announces, never all of it.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { pEvent } from 'p-event'
import * as varint from 'uint8-varint'
import { TRANSACTION_PROTOCOL } from '../../src/index.js'
import { createRawNode } from './nodes.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface AttackPlan {
  peers: number
  /** Connections each peer opens to the target */
  connectionsPerPeer: number
  streamsPerConnection: number
  /** What each stream's length prefix announces */
  announced: number
  /** How much of it each stream sends at once, as fast as the target takes it */
  send: number
  /** Then streams in even slots send one more byte every this many ms; odd slots send nothing more */
  trickle: number
}

export interface Attack {
  /** Connections the attacker has open to the target */
  readonly connections: number
  /** Bytes the attacker got onto the wire so far, across all its streams */
  readonly sent: number
  /** End the attacker process: its connections drop */
  stop(): Promise<void>
}

/** Start an attacker process against `target`; resolves once all its connections are open */
export async function startAttack (target: Multiaddr[], plan: AttackPlan): Promise<Attack> {
  const child = fork(fileURLToPath(import.meta.url), ['attack', JSON.stringify({ target: target.map(String), plan })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  let sent = 0
  child.on('message', (msg: any) => { sent = msg.sent ?? sent })
  const ready: any = await Promise.race([
    pEvent(child, 'message', { filter: (msg: any) => msg.connections != null }),
    exited.then(code => { throw new Error(`the attacker process exited with ${code} before it was connected`) })
  ])

  return {
    connections: ready.connections,
    get sent () { return sent },
    stop: async () => {
      child.kill()
      await exited
    }
  }
}

/** The attacker process */
async function attack (target: Multiaddr[], plan: AttackPlan): Promise<void> {
  const piece = new Uint8Array(64 * 1024)
  const connections: Connection[] = []
  let sent = 0

  for (let i = 0; i < plan.peers; i++) {
    const node = await createRawNode()

    for (let j = 0; j < plan.connectionsPerPeer; j++) {
      connections.push(await node.dial(target, { force: true }))
    }
  }

  const hold = async (connection: Connection, slot: number): Promise<void> => {
    let stream: Stream

    try {
      stream = await connection.newStream(TRANSACTION_PROTOCOL)
    } catch {
      return // over the target's streams per connection
    }

    const ended = pEvent(stream, 'close')

    try {
      stream.send(varint.encode(plan.announced))

      for (let done = 0; done < plan.send && stream.writeStatus === 'writable';) {
        const bytes = piece.subarray(0, Math.min(piece.byteLength, plan.send - done))

        if (!stream.send(bytes)) {
          await pEvent(stream, 'drain', { rejectionEvents: ['close'] })
        }

        done += bytes.byteLength
        sent += bytes.byteLength
      }

      while (plan.trickle > 0 && slot % 2 === 0 && stream.writeStatus === 'writable') {
        await new Promise(resolve => setTimeout(resolve, plan.trickle))
        stream.send(piece.subarray(0, 1))
      }
    } catch {
      // the target reset the stream
    }

    await ended
  }

  // until the test process kills this one, or goes
  process.on('disconnect', () => process.exit(0))
  process.send?.({ connections: new Set(connections.map(c => c.id)).size })
  setInterval(() => process.send?.({ sent }), 50)
  await Promise.all(connections.flatMap(connection => Array.from({ length: plan.streamsPerConnection }, async (_, slot) => hold(connection, slot))))
}

if (process.argv[2] === 'attack') {
  const { target, plan } = JSON.parse(process.argv[3])
  await attack(target.map((addr: string) => multiaddr(addr)), plan)
}
