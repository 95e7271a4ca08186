/**
 * npm run fuzz [-- --frames N] [--seed S] [--secure] [--time-limit S]
 *
 * The fuzz at scale of issue 13: N (default 100 000) random and mutated
 * frames (generators.ts: mutations of valid Messages, HelloMessages,
 * PeersMessages, SyncBlockRanges and Transactions; bit flips, truncations,
 * lengths that disagree with the body, huge varints, random types, garbage)
 * from 8 identities, over many chat streams (half of them after a valid
 * hello) and transaction streams, at a `fabric-peer node start` validator
 * (a CLI process from source, on 127.0.0.1; --secure: with security on,
 * valid frames signed). Then: the node did not crash and printed no
 * unexpected error (the CLI reports any unhandled rejection or uncaught
 * exception so, and exits), it still answers an honest chat (hello and
 * DISC_GET_PEERS) and transaction (over libp2p and its admin API), and its
 * RSS grew less than 200 MB.
 *
 * Each of the 6 concurrent senders draws from its own PRNG (seed + its
 * number): --seed replays the choice of frames and mutations (the fuzz
 * test's generators fill some bytes from crypto), not the node's timing.
 * Exits 0 when every check passes, 1 when one fails, 2 on bad options, 3
 * when the run itself failed.
 */

import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { adminRequest } from '../../src/cli/http.js'
import { CHAT_PROTOCOL, createMessage, libp2pSecurityHelper, Message, Response, responseText, signMessage, Transaction, TRANSACTION_PROTOCOL } from '../../src/index.js'
import { createNode, nextEvent } from '../helpers/nodes.js'
import { fuzzFrames, moreFrames, prng } from './generators.js'
import { FabricProcess } from './node-process.js'
import { attackerNode, closedOrAfter, frame, sleep, write } from './raw.js'
import { Sampler } from './sampler.js'
import { textTable } from './table.js'
import { Workspace } from './workspace.js'
import type { SecurityHelper } from '../../src/index.js'
import type { FabricNode } from '../helpers/nodes.js'
import type { Libp2p as Node } from '@libp2p/interface'

const IDENTITIES = 8
const SENDERS = 6
/** Chat sessions among all sessions; the rest are transaction streams */
const CHAT_SHARE = 0.8
const RSS_GROWTH_LIMIT = 200

function usage (problem: string): never {
  console.error(`${problem}\nusage: npm run fuzz -- [--frames N] [--seed S] [--secure] [--time-limit S]`)
  process.exit(2)
}

let values: { frames?: string, seed?: string, secure?: boolean, 'time-limit'?: string }

try {
  ({ values } = parseArgs({
    options: {
      frames: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      secure: { type: 'boolean', default: false },
      'time-limit': { type: 'string', default: '900' }
    }
  }))
} catch (err: any) {
  usage(err.message)
}

const frames = Number(values.frames)
const seed = values.seed != null ? Number(values.seed) : Date.now() % 1_000_000
const timeLimit = Number(values['time-limit']) * 1000
const secure = values.secure === true

if (!Number.isInteger(frames) || frames < 1 || frames > 10_000_000) usage(`--frames must be a whole number from 1 to 10 000 000, not ${values.frames}`)
if (!Number.isInteger(seed)) usage(`--seed must be a whole number, not ${values.seed}`)
if (!Number.isFinite(timeLimit) || timeLimit < 1_000 || timeLimit > 3_600_000) usage(`--time-limit must be seconds from 1 to 3600, not ${values['time-limit']}`)

const workspace = new Workspace('fabric-fuzz')
workspace.exitOnSignals(line => { console.info(line) })
const started = performance.now()
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`
const say = (line: string): void => { console.info(`[${elapsed()}] ${line}`) }

/** What the senders did */
const counts = {
  sent: 0,
  chatSessions: 0,
  afterHello: 0,
  txStreams: 0,
  /** Sessions the node ended (closed or reset the stream) within 300 ms of the last frame */
  endedByNode: 0,
  txAnswered: 0,
  dialFailures: 0
}

/** Why streams could not be opened, by message (numbers masked) */
const refusals = new Map<string, number>()

console.info(`libp2p-fabric-peer fuzz (Node ${process.version}): ${frames} frames, seed ${seed}${secure ? ', security on' : ''}, ${SENDERS} senders from ${IDENTITIES} identities`)
let exitCode = 3

try {
  exitCode = await fuzz()
} catch (err: any) {
  console.error(`\nfuzz run failed: ${err.stack ?? err.message}`)
} finally {
  await workspace.cleanup()
}

process.exit(exitCode)

async function fuzz (): Promise<number> {
  const node = new FabricProcess(workspace, {
    name: 'target',
    dataDir: join(workspace.dir, 'target'),
    validator: true,
    env: {
      // mutated DISC_PEERS can name any address (a flipped bit makes 127.0.0.1 a public one): the target dials nothing
      CORE_PEER_DISCOVERY_TOUCHPERIOD: '0',
      ...(secure ? { CORE_SECURITY_ENABLED: 'true' } : {})
    }
  })
  await node.start()
  say(`target: fabric-peer node start validator ${node.address} (pid ${node.pid})`)
  await adminRequest(node.admin!, 'POST', '/transactions', { chaincode: 'fuzz-warmup' })

  const keys = await Promise.all(Array.from({ length: IDENTITIES }, async () => generateKeyPair('Ed25519')))
  const attackers: Node[] = []
  const helpers = new Map<Node, SecurityHelper>()

  for (const key of keys) {
    const attacker = await attackerNode(key)
    workspace.defer(async () => { await attacker.stop() })
    attackers.push(attacker)
    helpers.set(attacker, libp2pSecurityHelper(key))
  }

  const signed = (from: Node, msg: Message): Message => secure ? signMessage(helpers.get(from)!, msg) : msg
  const target = multiaddr(node.address)
  const sampler = new Sampler(node)
  await sleep(1_000)
  sampler.start()
  const deadline = Date.now() + timeLimit
  const progress = setInterval(() => {
    const rate = counts.sent / ((performance.now() - started) / 1000)
    say(`${counts.sent}/${frames} frames (${rate.toFixed(0)}/s), ${counts.chatSessions} chat sessions (${counts.afterHello} after a hello), ${counts.txStreams} transaction streams, ${counts.endedByNode} ended by the node | ${sampler.line()}`)
  }, 5_000)

  const sender = async (n: number): Promise<void> => {
    const random = prng(seed + n)
    const int = (k: number): number => Math.floor(random() * k)
    const kit = fuzzFrames(random, signed)
    const more = moreFrames(random, kit, signed)

    for (let session = 0; counts.sent < frames && Date.now() < deadline && node.up; session++) {
      const attacker = attackers[(n + session * SENDERS) % attackers.length]
      const chat = random() < CHAT_SHARE
      let stream

      try {
        stream = await attacker.dialProtocol(target, chat ? CHAT_PROTOCOL : TRANSACTION_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      } catch (err: any) {
        // a stream limit while earlier streams close, or the per-host connection rate
        counts.dialFailures++
        const reason = String(err.message).replace(/\d+/g, 'N').slice(0, 80)
        refusals.set(reason, (refusals.get(reason) ?? 0) + 1)
        await sleep(50)
        continue
      }

      const until = Date.now() + 5_000

      if (chat) {
        counts.chatSessions++

        // half the sessions say hello first, so what follows reaches the established chat
        if (random() < 0.5 && await write(stream, frame(kit.helloFrom(attacker)), until)) {
          counts.sent++
          counts.afterHello++
        }

        for (let i = 0, m = 20 + int(200); i < m && counts.sent < frames; i++) {
          if (!await write(stream, random() < 0.5 ? kit.hostile(attacker) : more.chat(attacker), until)) break
          counts.sent++
          if (i % 25 === 24) await new Promise(resolve => setImmediate(resolve))
        }
      } else {
        counts.txStreams++
        let answered = false
        stream.addEventListener('message', () => { answered = true })

        for (let i = 0, m = random() < 0.2 ? 1 + int(3) : 1; i < m; i++) {
          if (!await write(stream, more.tx(), until)) break
          counts.sent++
        }

        await closedOrAfter(stream, 1_000)
        if (answered) counts.txAnswered++
      }

      if (await closedOrAfter(stream, 300)) {
        counts.endedByNode++
      }

      stream.abort(new Error('session over'))
    }
  }

  await Promise.all(Array.from({ length: SENDERS }, async (_, n) => sender(n)))
  clearInterval(progress)
  const seconds = (performance.now() - started) / 1000
  say(`sent ${counts.sent} frames in ${counts.chatSessions} chat sessions and ${counts.txStreams} transaction streams; checking the node`)
  await sleep(2_000)
  // the fuzzing peers said hello as validators: the node's engine may pick one as the sequencer while its chat lasts
  const fuzzers = new Set(attackers.map(a => a.peerId.toString()))
  const left = await establishedFuzzers(node, fuzzers)

  const honest = await honestChecks(node)
  sampler.stop()
  const growth = (sampler.peak ?? 0) - (sampler.before ?? 0)
  const unexpected = node.output.split('\n').find(line => /unexpected error|unhandled|uncaught/i.test(line))

  const checks: Array<[string, string, boolean]> = [
    ['frames sent', `${counts.sent} of ${frames} in ${seconds.toFixed(0)} s (seed ${seed}${secure ? ', security on' : ''})`, counts.sent >= frames],
    ['chat sessions', `${counts.chatSessions} (${counts.afterHello} after a valid hello), ${counts.endedByNode} sessions ended by the node`, counts.chatSessions > 0],
    ['transaction streams', `${counts.txStreams}, ${counts.txAnswered} answered`, counts.txStreams > 0],
    ['streams the node refused to open', `${counts.dialFailures}${refusals.size === 0 ? '' : ` (most: ${[...refusals].sort((x, y) => y[1] - x[1])[0].join(' x')})`}`, true],
    ['no fuzzing peer left established', left == null ? 'node down' : `${left} of ${fuzzers.size} identities still chatting (waited up to 15 s)`, left === 0],
    ['node up, no crash', node.up ? `pid ${node.pid} up` : `DOWN: ${node.death ?? '?'}`, node.up],
    ['no unhandled rejection / uncaught exception', unexpected == null ? 'none printed' : unexpected.trim().slice(0, 160), unexpected == null],
    ['honest chat (hello, DISC_GET_PEERS)', honest.chat, honest.chatOk],
    ['honest transaction (libp2p, admin API)', honest.tx, honest.txOk],
    [`RSS growth < ${RSS_GROWTH_LIMIT} MB`, `${mb(sampler.before)} -> peak ${mb(sampler.peak)} -> ${mb(sampler.last)} MB (+${growth.toFixed(0)})`, sampler.before != null && growth < RSS_GROWTH_LIMIT]
  ]
  const ok = checks.every(([, , pass]) => pass)
  console.info(`\nfuzz: ${ok ? 'PASSED' : 'FAILED'} (replay the frames with --seed ${seed})\n`)
  console.info(textTable(['check', 'result', 'verdict'], checks.map(([what, value, pass]) => [what, value, pass ? 'ok' : 'FAIL'])))
  return ok ? 0 : 1
}

/** How many of the fuzzing identities the node still has a chat with, once none (waiting up to 15 s) or at the end */
async function establishedFuzzers (node: FabricProcess, fuzzers: Set<string>): Promise<number | undefined> {
  const deadline = Date.now() + 15_000
  let left: number | undefined

  while (node.up && node.admin != null) {
    const answer = await adminRequest(node.admin, 'GET', '/peers').catch(() => undefined)
    left = answer?.peers.filter((p: { id: string }) => fuzzers.has(p.id)).length
    if (left === 0 || Date.now() > deadline) break
    await sleep(250)
  }

  return left
}

/** A new honest peer: a chat (hello both ways, a DISC_GET_PEERS answered) and a transaction, over libp2p and the admin API */
async function honestChecks (node: FabricProcess): Promise<{ chat: string, chatOk: boolean, tx: string, txOk: boolean }> {
  if (!node.up) {
    return { chat: 'node down', chatOk: false, tx: 'node down', txOk: false }
  }

  // a non-validator, or the node's engine could pick it as the sequencer of the very transaction it sends
  const honest: FabricNode = await createNode({ listen: [], fabric: { validator: false, touchPeriod: 0, security: secure ? { enabled: true } : undefined } })
  const fabric = honest.services.fabric
  const validator = peerIdFromString(node.peerId)
  let chat: string
  let chatOk = false
  let tx: string
  let txOk = false

  try {
    const t0 = performance.now()
    await fabric.chatWithPeer(multiaddr(node.address), { signal: AbortSignal.timeout(10_000) })
    const peers = nextEvent(fabric, 'message', d => d.message.type === Message.Type.DISC_PEERS && d.peerId.equals(validator), 5_000)
    fabric.unicast(createMessage(Message.Type.DISC_GET_PEERS), validator)
    await peers
    chat = `established and DISC_PEERS answered in ${(performance.now() - t0).toFixed(0)} ms`
    chatOk = true
  } catch (err: any) {
    chat = `failed: ${String(err.message).slice(0, 140)}`
  }

  try {
    const t0 = performance.now()
    const res = await fabric.sendTransactionToPeer(validator, honestTransaction())
    const admin = await adminRequest(node.admin!, 'POST', '/transactions', { chaincode: 'fuzz-honest' })
    txOk = res.status === Response.StatusCode.SUCCESS && admin.status === 'SUCCESS'
    const why = (status: string, text: string): string => status === 'SUCCESS' ? status : `${status} "${text.slice(0, 100)}"`
    tx = `libp2p ${why(res.status, responseText(res))}, admin API ${why(admin.status, admin.message)} (${(performance.now() - t0).toFixed(0)} ms)`
  } catch (err: any) {
    tx = `failed: ${String(err.message).slice(0, 140)}`
  }

  await honest.stop()
  return { chat, chatOk, tx, txOk }
}

function honestTransaction (): Transaction {
  return {
    type: Transaction.Type.CHAINCODE_INVOKE,
    chaincodeID: new TextEncoder().encode('fuzz-honest'),
    payload: new Uint8Array(0),
    metadata: new Uint8Array(0),
    txid: crypto.randomUUID(),
    nonce: crypto.getRandomValues(new Uint8Array(12)),
    cert: new Uint8Array(0),
    signature: new Uint8Array(0)
  }
}

function mb (n?: number): string {
  return n == null ? '-' : n.toFixed(0)
}
