/**
 * Issue 15's flood, as it was reported: one peer writes DISC_PEERS frames by
 * hand for 60 s, naming nodes at addresses it chose (a host it wants dialed, a
 * unix socket on the victim's machine, the victim's own address, ports where
 * nothing listens). The victim runs with default settings.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { GOSSIP_DIAL_BURST, GOSSIP_DIAL_RATE, GOSSIP_HOST_DIAL_BURST, GOSSIP_HOST_DIAL_RATE } from '../src/constants.js'
import { createMessage, Message, PeerEndpoint, PeersMessage } from '../src/index.js'
import { FakePeer } from './helpers/fake-peer.js'
import { createNode, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { Server } from 'node:net'

const DURATION = 60_000

const cleanup: Array<() => Promise<unknown>> = []
after(async () => { for (const c of cleanup.reverse()) await c() })

/** A TCP or unix socket server that counts the connections made to it, and says nothing */
async function sink (path?: string): Promise<{ server: Server, accepted: number[] }> {
  const accepted: number[] = []
  const server = createServer((socket) => {
    accepted.push(Date.now())
    socket.on('error', () => {})
    setTimeout(() => socket.destroy(), 200)
  })
  await new Promise<void>(resolve => path == null ? server.listen(0, '127.0.0.1', resolve) : server.listen(path, resolve))
  cleanup.push(async () => new Promise(resolve => server.close(resolve)))
  return { server, accepted }
}

/** The most events within any `window` ms */
function peakIn (times: number[], window: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let peak = 0

  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= window) j++
    peak = Math.max(peak, i - j + 1)
  }

  return peak
}

async function someIds (count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
}

describe('a peer flooding DISC_PEERS for 60 s with raw frames', () => {
  it('holds at most its gossip count, is charged for bogus nodes, cannot aim dials, and honest nodes learned later still enter', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fabric-flood-'))
    cleanup.push(async () => rm(dir, { recursive: true, force: true }))
    const tcpSink = await sink()
    const unixPath = join(dir, 'victim.sock')
    const unixSink = await sink(unixPath)
    const sinkPort = (tcpSink.server.address() as { port: number }).port

    // the victim with default settings (a validator, touch every 6 s, up to 100 dials a tick)
    const victim: FabricNode = await createNode({ fabric: {} })
    cleanup.push(async () => victim.stop())
    const fabric = victim.services.fabric
    const own = victim.getMultiaddrs()[0].toString()

    // the dials the touch loop really makes, with the addresses it was given
    const dials: Array<{ at: number, peer: string, addresses: string[] }> = []
    const chatWithPeer = fabric.chatWithPeer.bind(fabric)
    fabric.chatWithPeer = async (peer, options) => {
      const addresses = (Array.isArray(peer) ? peer : [peer]).map(a => a.toString())
      dials.push({ at: Date.now(), peer: addresses[0].split('/p2p/').pop() ?? '', addresses })
      return chatWithPeer(peer, options)
    }

    const attacker = await FakePeer.create()
    cleanup.push(async () => attacker.stop())
    await attacker.hello(victim.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR)
    const attackerId = attacker.node.peerId

    // 4 000 made-up nodes, named again and again
    const ids = await someIds(4_000)
    const attackerIds = new Set(ids)
    const addressOf = (id: string, i: number): string => {
      switch (i % 20) {
        case 0: case 1: return `/unix/${encodeURIComponent(unixPath)}/p2p/${id}`
        case 2: return `${own}/p2p/${id}`
        case 3: return `/memory/victim/p2p/${id}`
        default: return i % 2 === 0
          ? `/ip4/127.0.0.1/tcp/${sinkPort}/p2p/${id}`
          : `/ip4/127.0.0.${2 + (i % 200)}/tcp/${1 + (i % 60_000)}/p2p/${id}`
      }
    }

    const start = Date.now()
    let sent = 0
    let honest: { fake: FakePeer, nodes: FabricNode[], at: number } | undefined

    while (Date.now() - start < DURATION) {
      const peers = Array.from({ length: 2_000 }, (_, k) => {
        const i = (sent * 2_000 + k) % ids.length
        return { ID: { name: ids[i] }, address: addressOf(ids[i], i), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }
      })
      // the raw frame, as written by hand: DISC_PEERS every 500 ms, whatever the victim asked
      attacker.send(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({ peers })))
      sent++

      if (honest == null && Date.now() - start > DURATION / 2) {
        // half way: an honest peer tells the victim of 5 real nodes
        const nodes = await Promise.all(Array.from({ length: 5 }, async () => createNode({ fabric: { touchPeriod: 0 } })))
        cleanup.push(async () => Promise.all(nodes.map(async n => n.stop())))
        const fake = await FakePeer.create()
        cleanup.push(async () => fake.stop())
        await fake.hello(victim.getMultiaddrs(), PeerEndpoint.Type.VALIDATOR)
        fake.send(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({
          peers: nodes.map(n => ({ ID: { name: n.peerId.toString() }, address: n.getMultiaddrs()[0].toString(), type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }))
        })))
        honest = { fake, nodes, at: Date.now() }
      }

      await new Promise(resolve => setTimeout(resolve, 500))
    }

    const listed = [...fabric.discovery.values()].filter(n => attackerIds.has(n.peerId.toString())).length
    const toAttacker = dials.filter(d => attackerIds.has(d.peer)).map(d => d.at)
    const toSinkHost = dials.filter(d => d.addresses.some(a => a.startsWith('/ip4/127.0.0.1/'))).map(d => d.at)
    const badDials = dials.filter(d => d.addresses.some(a => a.startsWith('/unix/') || a.startsWith('/memory/') || a.startsWith(`${own}/`)))
    const peak = peakIn(toAttacker, 1_000)

    process.stdout.write(`# flood: ${sent} DISC_PEERS of 2 000 nodes in ${Math.round((Date.now() - start) / 1000)} s; the attacker's nodes in the list at the end: ${listed} (its count per period ${fabric.discovery.gossipRate}, share ${fabric.discovery.gossipAllowance(attackerId) + fabric.discovery.gossipPenalty(attackerId)}), penalty ${fabric.discovery.gossipPenalty(attackerId)}\n`)
    process.stdout.write(`# flood: dials to attacker-named nodes ${toAttacker.length} in all (${(toAttacker.length / (DURATION / 1000)).toFixed(2)}/s), at most ${peak} in any second; to its chosen host:port ${tcpSink.accepted.length} connections (at most ${peakIn(tcpSink.accepted, 1_000)} in a second); unix socket ${unixSink.accepted.length}; /unix/, /memory/ or own-address dials ${badDials.length}\n`)

    // its nodes: at most what its gossip may add in a period, whatever it sent
    assert.ok(listed <= fabric.discovery.gossipRate, `${listed} attacker nodes listed`)
    // dials it can cause: within the gossip pace (a burst, then the rate), and to one host within the host pace
    assert.ok(peak <= GOSSIP_DIAL_BURST + GOSSIP_DIAL_RATE, `${peak} dials to attacker-named nodes within a second`)
    assert.ok(peakIn(toSinkHost, 1_000) <= GOSSIP_HOST_DIAL_BURST + GOSSIP_HOST_DIAL_RATE, `${peakIn(toSinkHost, 1_000)} dials to 127.0.0.1 within a second`)
    assert.ok(peakIn(tcpSink.accepted, 1_000) <= GOSSIP_HOST_DIAL_BURST + GOSSIP_HOST_DIAL_RATE)
    // and over the whole minute, the rates: one burst, then at most the rate a second
    assert.ok(toSinkHost.length <= GOSSIP_HOST_DIAL_BURST + GOSSIP_HOST_DIAL_RATE * DURATION / 1000)
    // bogus gossip cost it: charged, and far fewer dials than nodes it named
    assert.ok(fabric.discovery.gossipPenalty(attackerId) > 0, 'the attacker was charged for bogus nodes')
    assert.ok(toAttacker.length <= GOSSIP_DIAL_BURST + GOSSIP_DIAL_RATE * DURATION / 1000, `${toAttacker.length} dials to attacker-named nodes`)
    // a node only gossip vouches for is dialed at one address at a time: one connection a dial
    assert.ok(dials.filter(d => attackerIds.has(d.peer)).every(d => d.addresses.length === 1), 'one address a dial')
    // never a dial to a unix socket, a memory address or our own address
    assert.equal(badDials.length, 0)
    assert.equal(unixSink.accepted.length, 0, 'nothing connected to the unix socket')

    // the honest peer's nodes entered the list and were chatted with
    assert.ok(honest != null)
    for (const n of honest.nodes) assert.ok(fabric.discovery.findNode(n.peerId), 'an honest node learned late is in the list')
    await waitFor(() => honest!.nodes.every(n => fabric.isEstablished(n.peerId)), 'chats with the honest nodes', 15_000)
    // and the attacker still chats: its gossip is refused, it is not dropped for it
    assert.equal(fabric.isEstablished(attackerId), true)
  })
})
