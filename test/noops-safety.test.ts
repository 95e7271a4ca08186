/**
 * The noops engine's sequencing rules that keep chains from forking under the
 * usual faults: a validator does not sequence while settling after a start,
 * without a majority of the validators it knows, or while behind one of them.
 */

import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createMessage, Message, PeerEndpoint, PeersMessage } from '../src/index.js'
import { Harness } from '../src/testing/index.js'
import { FakePeer } from './helpers/fake-peer.js'

const fast = { discoveryPeriod: 300, touchPeriod: 500, dialBackoffInitial: 500 }

describe('noops sequencing safety', () => {
  const open: Harness[] = []
  after(async () => { await Promise.all(open.map(async h => h.close())) })

  it('a validator cut off from most of the validators it knows refuses to sequence', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false, fabric: fast } })
    open.push(h)
    await h.start([{ name: 'a', root: true }, { name: 'b' }, { name: 'c' }])
    await h.waitFor(h.fullMesh(), 15_000)
    assert.equal((await h.submit('a', 'before')).status, 'SUCCESS')

    // whichever is the sequencer, one validator alone knows three and chats with none
    await h.stop('b')
    await h.stop('c')
    const alone = await h.submit('a', 'alone')
    assert.equal(alone.status, 'FAILURE')
    assert.match(alone.message, /no majority/)
  })

  it('a lone validator gossiped a validator that never answers still sequences: a role only gossip gives is a hint', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false, fabric: fast } })
    open.push(h)
    const [solo] = await h.start([{ name: 'solo' }])
    assert.equal((await h.submit('solo', 'before')).status, 'SUCCESS')

    // a socket that accepts and never speaks: dials to it time out, they do not fail fast
    const silent = createServer(() => {})
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const gossiper = await FakePeer.create()
    try {
      await gossiper.hello([multiaddr(solo.address!)], PeerEndpoint.Type.NON_VALIDATOR)
      const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      gossiper.send(createMessage(Message.Type.DISC_PEERS, PeersMessage.encode({
        peers: [{ ID: { name: ghost }, address: `/ip4/127.0.0.1/tcp/${port}/p2p/${ghost}`, type: PeerEndpoint.Type.VALIDATOR, pkiID: new Uint8Array(0) }]
      })))
      await new Promise(resolve => setTimeout(resolve, 500))

      const after = await h.submit('solo', 'after')
      assert.equal(after.status, 'SUCCESS', after.message)
    } finally {
      await gossiper.stop()
      silent.close()
    }
  })

  it('a validator that has just started waits settleTime before it sequences', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false, fabric: fast, settleTime: 60_000 } })
    open.push(h)
    await h.start([{ name: 'solo' }])
    const res = await h.submit('solo', 'too-soon')
    assert.equal(res.status, 'FAILURE')
    assert.match(res.message, /settling/)
  })
})
