import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CHAT_PROTOCOL, createMessage, libp2pSecurityHelper, Message, signMessage } from '../src/index.js'
import { frame } from './helpers/fake-peer.js'
import { createNode, createRawNode, nextEvent, waitFor } from './helpers/nodes.js'
import { fuzzFrames, prng } from './soak/generators.js'
import type { Libp2p } from '@libp2p/interface'

const FRAMES = 10_000
const SECURE_FRAMES = 4_000
const TIME_LIMIT = 90_000

describe('fuzz', () => {
  const nodes: Libp2p[] = []
  after(async () => { await Promise.all(nodes.map(async n => n.stop())) })

  it(`${FRAMES} random and mutated frames: no crash, nothing left registered, memory bounded, and the node still chats`, async () => {
    await fuzz(false, FRAMES)
  })

  it(`${SECURE_FRAMES} signed-then-mutated frames at a node with security on: the same`, async () => {
    await fuzz(true, SECURE_FRAMES)
  })

  async function fuzz (secure: boolean, frames: number): Promise<void> {
    const seed = Number(process.env.FUZZ_SEED ?? 20261125)
    const random = prng(seed)
    const int = (n: number): number => Math.floor(random() * n)
    const security = secure ? { enabled: true, maxMessageAge: 60_000 } : undefined
    const target = await createNode({ fabric: { helloTimeout: 300, touchPeriod: 0, security } })
    const keys = await Promise.all([0, 1, 2].map(async () => generateKeyPair('Ed25519')))
    const attackers = await Promise.all(keys.map(async key => createRawNode(key)))
    const helpers = new Map(attackers.map((a, i) => [a, libp2pSecurityHelper(keys[i])]))
    nodes.push(target, ...attackers)
    // under security a valid frame is a signed one: mutations then break the signature, or not
    const signed = (node: Libp2p, msg: Message): Message => secure ? signMessage(helpers.get(node)!, msg) : msg

    const { helloFrom, hostile } = fuzzFrames(random, signed)

    const baseline = process.memoryUsage().rss
    const started = Date.now()
    let sent = 0
    let sessions = 0
    let rejected = 0
    target.services.fabric.addEventListener('peer:rejected', () => { rejected++ })

    while (sent < frames && Date.now() - started < TIME_LIMIT) {
      const attacker = attackers[sessions % attackers.length]
      sessions++
      let stream
      try {
        stream = await attacker.dialProtocol(target.getMultiaddrs(), CHAT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      } catch {
        // stream limit per connection while earlier streams close: try the next attacker
        await new Promise(resolve => setTimeout(resolve, 20))
        continue
      }

      // half the sessions say hello first, so what follows reaches the established chat
      if (random() < 0.5) {
        stream.send(frame(helloFrom(attacker)))
        sent++
      }

      for (let i = 0, n = 20 + int(200); i < n && stream.status === 'open' && stream.writeStatus === 'writable'; i++) {
        try {
          stream.send(hostile(attacker))
          sent++
        } catch {
          break
        }
        if (i % 25 === 24) await new Promise(resolve => setImmediate(resolve))
      }

      await waitFor(() => stream.status !== 'open', 'the target to end the session', 2_000).catch(() => {})
      stream.abort(new Error('session over'))
    }

    assert.ok(sent >= frames, `only ${sent} frames in ${TIME_LIMIT} ms`)
    assert.ok(rejected > sessions / 4, `${rejected} rejections in ${sessions} sessions`)
    // every hostile chat is gone from the registry
    await waitFor(() => target.services.fabric.getPeers().peers.length === 0, 'no fuzzing peer left established', 10_000)
    const grown = (process.memoryUsage().rss - baseline) / 2 ** 20
    assert.ok(grown < 200, `RSS grew by ${grown.toFixed(0)} MiB`)

    // the node still chats with an honest peer
    const honest = await createNode({ fabric: { touchPeriod: 0, security } })
    nodes.push(honest)
    await honest.services.fabric.chatWithPeer(target.getMultiaddrs())
    const got = nextEvent(target.services.fabric, 'message', d => d.message.type === Message.Type.CONSENSUS && d.peerId.equals(honest.peerId))
    honest.services.fabric.unicast(createMessage(Message.Type.CONSENSUS, Uint8Array.of(1)), target.peerId)
    await got
    process.stdout.write(`# fuzz${secure ? ' (secure)' : ''} seed ${seed}: ${sent} frames in ${sessions} sessions, ${rejected} rejections, ${Date.now() - started} ms, RSS +${grown.toFixed(0)} MiB\n`)
  }
})
