/**
 * Issue 13's attacks a-h (and j, found since), each written by hand from plain libp2p nodes (see
 * raw.ts) against a `fabric-peer node start` on 127.0.0.1, each until its
 * deadline. They run in the attacker process (attacker.ts), so the soak
 * process that measures the node is not the one that writes the flood.
 * Attack i (the damaged discovery record) needs the node stopped and
 * restarted, so the soak process does it itself (soak.ts).
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { FrameDecoder } from '../../src/chat/frames.js'
import { CHAT_PROTOCOL, createMessage, libp2pSecurityHelper, Message, PeerEndpoint, PeersMessage, Response, signTransaction, SyncBlockRange, Transaction, TRANSACTION_PROTOCOL } from '../../src/index.js'
import { rawHttp } from '../helpers/cli.js'
import { attackerNode, closedOrAfter, ConnectionPace, frame, openChat, prefix, repeated, sleep, write } from './raw.js'
import type { HostPort } from './node-process.js'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type AttackId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'i' | 'j'

export const ATTACK_IDS: AttackId[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']

/** One line per attack, for the table and --help */
export const ATTACK_TITLES: Record<AttackId, string> = {
  a: 'zero-length frames, before and after the hello',
  b: '~4 MiB of signature per frame, a second chat silent',
  c: '10 connections x 32 transaction streams of ~4 MiB frames',
  d: 'stops reading, keeps sending SYNC_GET_BLOCKS',
  e: '300 connections from fresh identities, 4 a second',
  f: 'honest DISC_GET_PEERS, again 1-2 s later',
  g: 'web page: cross-origin POST, rebound Host',
  h: 'security on: replayed and 30-day-old transactions',
  i: 'persisted discovery record garbage / truncated',
  j: 'one DISC_PEERS naming a validator that is not there'
}

/** Attack e's numbers, from the issue: the default 300 connection slots, below the 5-a-second per-host limit */
export const E_CONNECTIONS = 300
export const E_PER_SECOND = 4

/** New connections a second the other attacks open: under the node's per-host limit of 5 */
const PACE = 4

/** Attack b's frames: a Message with only a type, a timestamp and this much signature */
const B_SIGNATURE = 4 * 1024 * 1024 - 64

/** Attack c's frames: a length prefix just under 4 MiB, then all of the body but its last byte */
const C_FRAME = 4 * 1024 * 1024 - 16
const C_CONNECTIONS = 10
const C_STREAMS = 32

/** What the node's soak process needs to know of the node under attack */
export interface AttackTarget {
  /** Its listen multiaddr, ending in /p2p/<id> */
  address: string
  admin?: HostPort
  metrics?: HostPort
}

export interface Defence {
  /** The attack got nothing it wanted */
  ok: boolean
  text: string
}

export interface AttackOutcome {
  /** What the attacker did and what came back, by name */
  stats: Record<string, number>
  notes: string[]
  /** For f, g, h: whether the node did what it should */
  defence?: Defence
}

/** One attack's state: its counters, its nodes, its deadline */
export class AttackRun {
  readonly stats: Record<string, number> = {}
  readonly notes: string[] = []
  readonly until: number
  readonly target: Multiaddr
  readonly info: AttackTarget
  private readonly nodes = new Set<Libp2p>()
  readonly pace = new ConnectionPace(PACE)

  constructor (info: AttackTarget, until: number) {
    this.info = info
    this.until = until
    this.target = multiaddr(info.address)
  }

  get over (): boolean {
    return Date.now() >= this.until
  }

  count (name: string, n = 1): void {
    this.stats[name] = (this.stats[name] ?? 0) + n
  }

  note (text: string): void {
    if (!this.notes.includes(text) && this.notes.length < 5) {
      this.notes.push(text)
    }
  }

  /** A fresh identity, stopped at the end of the attack (or by `drop`) */
  async node (privateKey?: PrivateKey): Promise<Libp2p> {
    const node = await attackerNode(privateKey)
    this.nodes.add(node)
    return node
  }

  async drop (node: Libp2p): Promise<void> {
    this.nodes.delete(node)
    await stopWithin(node)
  }

  async stopAll (): Promise<void> {
    await Promise.all([...this.nodes].map(async node => this.drop(node)))
  }
}

export const ATTACKS: Record<Exclude<AttackId, 'i'>, (run: AttackRun) => Promise<Defence | undefined>> = {
  /**
   * a. Rounds of two fresh identities: one opens a chat and writes 100 KB of
   * 0x00 before any hello (each byte a zero-length frame, a whole default
   * Message); the other says hello, then writes 2 MiB of 0x00.
   */
  a: async (run) => {
    const before = new Uint8Array(100 * 1024)
    const after = new Uint8Array(2 * 1024 * 1024)

    while (!run.over) {
      await run.pace.take()
      await round(run, async (node) => {
        const stream = await node.dialProtocol(run.target, CHAT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        run.count('zero-length frames sent', await write(stream, before, run.until) ? before.byteLength : 0)
        run.count(await closedOrAfter(stream, Math.min(3_000, run.until - Date.now())) ? 'chats closed by the node' : 'chats left open')
      })

      if (run.over) break
      await run.pace.take()
      await round(run, async (node) => {
        const { stream } = await openChat(node, run.target, { hello: true, timeout: 5_000 })
        run.count('hellos answered')
        run.count('zero-length frames sent', await write(stream, after, run.until) ? after.byteLength : 0)
        run.count(await closedOrAfter(stream, Math.min(5_000, run.until - Date.now())) ? 'chats closed by the node' : 'chats left open')
      })
      run.count('rounds')
    }

    return undefined
  },

  /**
   * b. Each round a fresh identity opens a chat stream and leaves it silent
   * (the node waits for its hello), opens a second, says hello, then
   * DISC_DISCONNECT "duplicate chat" (so the node stops taking from this
   * chat while it waits, up to helloTimeout, for the silent one to take its
   * place), and writes Messages of type CONSENSUS with no payload and ~4 MiB
   * of signature, as fast as the stream takes them, until the node closes it
   * or 15 s pass. What the node buffers meanwhile is bounded only if it
   * counts the signature's bytes.
   */
  b: async (run) => {
    const big = frame({ ...createMessage(Message.Type.CONSENSUS), signature: new Uint8Array(B_SIGNATURE) })

    while (!run.over) {
      await run.pace.take()
      await round(run, async (node) => {
        const silent = await node.dialProtocol(run.target, CHAT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        const { stream } = await openChat(node, run.target, { hello: true, timeout: 5_000 })
        run.count('hellos answered')
        // "this chat is the duplicate": the node waits (helloTimeout) for the silent one to take its place
        stream.send(frame(createMessage(Message.Type.DISC_DISCONNECT, new TextEncoder().encode('duplicate chat'))))
        const roundEnd = Math.min(run.until, Date.now() + 15_000)

        while (Date.now() < roundEnd && await write(stream, big, roundEnd)) {
          run.count('4 MiB frames sent')
        }

        run.count(stream.status === 'open' ? 'chats left open' : 'chats closed by the node')
        silent.abort(new Error('round over'))
      })
      run.count('rounds')
    }

    return undefined
  },

  /**
   * c. 10 fresh identities, one connection each, 32 transaction streams on
   * each: every stream gets a length prefix of 4 MiB - 16 and all of the
   * body but its last byte, then waits; when the node ends a stream, the
   * slot opens another, until the deadline.
   */
  c: async (run) => {
    const body = new Uint8Array(C_FRAME - 1)
    const head = prefix(C_FRAME)

    const slot = async (node: Libp2p): Promise<void> => {
      while (!run.over) {
        let stream

        try {
          stream = await node.dialProtocol(run.target, TRANSACTION_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        } catch (err: any) {
          run.count('streams refused')
          run.note(`stream refused: ${String(err.message ?? err.name ?? err).slice(0, 100)}`)
          await sleep(1_000)
          continue
        }

        run.count('streams opened')

        if (await write(stream, head, run.until) && await write(stream, body, run.until)) {
          run.count('MB held', body.byteLength / 2 ** 20)
        }

        run.count(await closedOrAfter(stream, run.until - Date.now()) ? 'streams ended by the node' : 'streams held to the end')
        stream.abort(new Error('slot over'))
      }
    }

    const nodes: Libp2p[] = []

    for (let i = 0; i < C_CONNECTIONS && !run.over; i++) {
      await run.pace.take()

      try {
        const node = await run.node()
        await node.dial(run.target, { signal: AbortSignal.timeout(5_000) })
        nodes.push(node)
        run.count('connections')
      } catch (err: any) {
        run.count('connections refused')
        run.note(`connection refused: ${String(err.message).slice(0, 100)}`)
      }
    }

    await Promise.all(nodes.flatMap(node => Array.from({ length: C_STREAMS }, async () => slot(node))))
    return undefined
  },

  /**
   * d. Each round a fresh identity says hello, then pauses its side of the
   * stream (its muxer grants the node no more window: it reads nothing) and
   * writes SYNC_GET_BLOCKS {correlationId 1, start 2, end 3}, a thousand
   * frames per write, until the node drops it or the deadline.
   */
  d: async (run) => {
    const ask = frame(createMessage(Message.Type.SYNC_GET_BLOCKS, SyncBlockRange.encode({ correlationId: 1, start: 2, end: 3 })))
    const batch = repeated(ask, 1_000)

    while (!run.over) {
      await run.pace.take()
      await round(run, async (node) => {
        const { stream } = await openChat(node, run.target, { hello: true, timeout: 5_000 })
        stream.pause()
        const started = Date.now()

        while (!run.over && await write(stream, batch, run.until)) {
          run.count('requests sent', 1_000)
          // a write is taken at once while the muxer has window: let the event loop breathe
          await new Promise(resolve => setImmediate(resolve))
        }

        if (stream.status !== 'open') {
          run.count('dropped by the node')
          run.count('seconds until dropped', (Date.now() - started) / 1000)
        } else {
          run.count('chats left open')
        }
      })
      run.count('rounds')
    }

    return undefined
  },

  /**
   * e. E_CONNECTIONS fresh identities, each one plain connection (no
   * stream), E_PER_SECOND a second, all held open to the end.
   */
  e: async (run) => {
    const pace = new ConnectionPace(E_PER_SECOND)
    const dials: Array<Promise<void>> = []

    for (let i = 0; i < E_CONNECTIONS && !run.over; i++) {
      await pace.take()
      const node = await run.node()
      dials.push(node.dial(run.target, { signal: AbortSignal.timeout(10_000) }).then(() => {
        run.count('connections open')
      }, (err: Error) => {
        run.count('connections refused')
        run.note(`refused: ${String(err.message).slice(0, 100)}`)
      }))
    }

    await Promise.all(dials)

    while (!run.over) {
      await sleep(Math.min(500, run.until - Date.now()))
    }

    return undefined
  },

  /**
   * j. Not in issue 13's table, found by the fuzz: a stranger says hello as
   * a non-validator and sends one DISC_PEERS naming a VALIDATOR with a fresh
   * PeerId at 127.0.0.1 port 1 (nobody there), then leaves; again every 5 s.
   * The honest transactions show whether the node still sequences.
   */
  j: async (run) => {
    while (!run.over) {
      await run.pace.take()
      await round(run, async (node) => {
        const { stream } = await openChat(node, run.target, { hello: true, timeout: 5_000 })
        const fake = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
        stream.send(frame(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({
          peers: [{ ID: { name: fake.toString() }, address: `/ip4/127.0.0.1/tcp/1/p2p/${fake}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }]
        }))))
        run.count('fake validators gossiped')
        await closedOrAfter(stream, 500)
      })
      await sleep(Math.min(5_000, Math.max(0, run.until - Date.now())))
    }

    return undefined
  },

  /**
   * f. An honest peer: says hello, answers the node's DISC_GET_PEERS, and
   * asks DISC_GET_PEERS itself, then again 1 or 2 s after each answer (or
   * after 3 s without one).
   */
  f: async (run) => {
    const node = await run.node()
    const { stream, inbox } = await openChat(node, run.target, { hello: true })
    inbox.onMessage = (msg) => {
      if (msg.type === Message.Type.DISC_GET_PEERS) {
        stream.send(frame(createMessage(Message.Type.DISC_PEERS)))
      }
    }
    let asked = 0
    let answered = 0

    while (!run.over && stream.status === 'open') {
      const answer = inbox.next(Message.Type.DISC_PEERS, 3_000)
      stream.send(frame(createMessage(Message.Type.DISC_GET_PEERS)))
      asked++
      run.count('DISC_GET_PEERS sent')

      if ((await answer) != null) {
        answered++
        run.count('answered')
      } else {
        run.count('not answered within 3 s')
      }

      await sleep(Math.min(asked % 2 === 1 ? 1_000 : 2_000, Math.max(0, run.until - Date.now())))
    }

    if (stream.status !== 'open') {
      run.note(`the node closed the honest chat after ${asked} asks`)
    }

    return { ok: asked > 0 && answered === asked, text: `${answered}/${asked} DISC_GET_PEERS answered` }
  },

  /**
   * g. What a web page can make a browser send: a cross-origin POST of a
   * transaction as text/plain (no preflight) with Origin: http://evil.example,
   * and GET /peers (and /metrics) with a Host of a name rebound to 127.0.0.1.
   */
  g: async (run) => {
    const { admin, metrics } = run.info

    if (admin == null) {
      throw new Error('attack g needs the node\'s admin API')
    }

    const body = JSON.stringify({ chaincode: 'evil', payload: 'from a web page' })
    const requests: Array<[string, HostPort, string]> = [
      ['cross-origin POST', admin, `POST /transactions HTTP/1.1\r\nHost: ${admin.host}:${admin.port}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['rebound Host', admin, `GET /peers HTTP/1.1\r\nHost: rebind.evil.example:${admin.port}\r\nConnection: close\r\n\r\n`]
    ]

    if (metrics != null) {
      requests.push(['rebound Host (metrics)', metrics, `GET /metrics HTTP/1.1\r\nHost: rebind.evil.example:${metrics.port}\r\nConnection: close\r\n\r\n`])
    }

    let served = 0
    let sent = 0

    while (!run.over) {
      for (const [what, at, request] of requests) {
        const answer = await rawHttp(`${at.host}:${at.port}`, request, 5_000)
        sent++

        if (/^HTTP\/1\.[01] 2\d\d/.test(answer.status)) {
          served++
          run.count(`${what} served`)
        } else {
          run.count(`${what} refused`)
        }
      }

      await sleep(Math.min(100, Math.max(0, run.until - Date.now())))
    }

    return { ok: sent > 0 && served === 0, text: `${served}/${sent} served` }
  },

  /**
   * h. At a node with security on and default settings: a member (anyone,
   * by default) signs a transaction, submits it, then replays the same bytes
   * twice; and submits one signed with a timestamp 30 days old. Raw frames
   * on /fabric/transaction/1.0.0.
   */
  h: async (run) => {
    const key = await generateKeyPair('Ed25519')
    const helper = libp2pSecurityHelper(key)
    const node = await run.node(key)
    const encoder = new TextEncoder()
    const signed = (ageMs: number): Transaction => {
      const ms = Date.now() - ageMs
      return signTransaction(helper, {
        type: Transaction.Type.CHAINCODE_INVOKE,
        chaincodeID: encoder.encode('soak-replay'),
        payload: crypto.getRandomValues(new Uint8Array(16)),
        metadata: new Uint8Array(0),
        txid: crypto.randomUUID(),
        timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
        nonce: crypto.getRandomValues(new Uint8Array(12)),
        cert: new Uint8Array(0),
        signature: new Uint8Array(0)
      })
    }
    const submit = async (tx: Transaction, what: string): Promise<void> => {
      const status = await rawTransaction(node, run.target, tx)
      run.count(`${what} sent`)
      run.count(status === Response.StatusCode.SUCCESS ? `${what} accepted` : `${what} refused`)
    }

    while (!run.over) {
      const tx = signed(0)
      await submit(tx, 'originals')
      await submit(tx, 'replays')
      await submit(tx, 'replays')
      await submit(signed(30 * 24 * 3600 * 1000), '30-day-old')
      await sleep(Math.min(250, Math.max(0, run.until - Date.now())))
    }

    const s = run.stats
    const replays = s['replays accepted'] ?? 0
    const stale = s['30-day-old accepted'] ?? 0
    const originals = s['originals accepted'] ?? 0
    return {
      ok: originals > 0 && replays === 0 && stale === 0,
      text: `replays accepted ${replays}/${s['replays sent'] ?? 0}, 30-day-old accepted ${stale}/${s['30-day-old sent'] ?? 0}${originals === 0 ? ', no original accepted' : ''}`
    }
  }
}

/** One transaction by hand: its frame on a fresh stream, the Response frame back; undefined when none came */
async function rawTransaction (node: Libp2p, target: Multiaddr, tx: Transaction): Promise<Response.StatusCode | undefined> {
  const signal = AbortSignal.timeout(15_000)
  const stream = await node.dialProtocol(target, TRANSACTION_PROTOCOL, { signal })
  const decoder = new FrameDecoder(4 * 1024 * 1024)
  const answer = new Promise<Response.StatusCode | undefined>((resolve) => {
    stream.addEventListener('message', (evt) => {
      try {
        const [f] = decoder.push(evt.data)
        if (f != null) resolve(Response.decode(f).status)
      } catch {
        resolve(undefined)
      }
    })
    stream.addEventListener('close', () => { resolve(undefined) })
    signal.addEventListener('abort', () => { resolve(undefined) })
  })
  stream.send(frame(Transaction.encode(tx)))
  const status = await answer
  stream.abort(new Error('done'))
  return status
}

/** A fresh identity for one round of an attack; a failure is counted, not thrown */
async function round (run: AttackRun, fn: (node: Libp2p) => Promise<void>): Promise<void> {
  const node = await run.node()

  try {
    await fn(node)
  } catch (err: any) {
    run.count('rounds failed')
    run.note(String(err.message).slice(0, 120))
  } finally {
    await run.drop(node)
  }
}

async function stopWithin (node: Libp2p, ms = 5_000): Promise<void> {
  await Promise.race([Promise.resolve(node.stop()).catch(() => {}), sleep(ms)])
}
