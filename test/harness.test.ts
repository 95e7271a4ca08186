/**
 * The multi-node harness itself: nodes as child processes with roles, root
 * nodes and data directories; waiting for the topology; SIGKILL and restart on
 * the same identity and port; transactions through a non-validator; engines and
 * plugins from modules; in-process mode; clear failures.
 */

import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Harness, HarnessError } from '../src/testing/index.js'

const fast = { discoveryPeriod: 500, touchPeriod: 750, dialBackoffInitial: 750, persistDelay: 100 }

describe('harness', () => {
  const open: Harness[] = []
  after(async () => { await Promise.all(open.map(async h => h.close())) })

  it('runs validators and a non-validator as processes, survives a SIGKILL and brings the node back as the same peer', async () => {
    const h = await Harness.create({ defaults: { fabric: fast } })
    open.push(h)
    await h.start([{ name: 'vp0', root: true }, { name: 'vp1' }, { name: 'vp2' }, { name: 'nvp0', validator: false }])
    assert.equal(new Set(h.all().map(n => n.pid)).size, 4, 'one process per node')
    await h.waitFor(h.topology(2), 30_000)

    const res = await h.submit('nvp0', 'harness-tx-1')
    assert.equal(res.status, 'SUCCESS', res.message)
    await h.waitFor({ what: 'every validator at height 1', check: h => h.statuses().filter(s => s.validator).every(s => s.height === 1) }, 10_000)

    const before = h.node('vp2')
    const peerId = before.peerId
    const address = before.address
    await h.kill('vp2')
    assert.equal(h.node('vp2').state, 'killed')
    await h.waitFor({ what: 'vp2 gone from every chat list', check: h => h.statuses().every(s => !s.validators.includes(peerId!)) }, 15_000)

    await h.restart('vp2')
    assert.equal(h.node('vp2').peerId, peerId, 'the same identity from its data directory')
    assert.equal(h.node('vp2').address, address, 'the same port')
    await h.waitFor(h.topology(2), 30_000)
    assert.ok(h.events.some(e => e.node === 'vp0' && e.type === 'established' && e.peer === peerId && e.at >= h.node('vp2').startedAt!), 'vp0 saw the restarted vp2 establish')
    const heights = await h.refresh()
    assert.equal(heights.find(s => s.name === 'vp2')?.height, 1, 'its ledger survived the SIGKILL')
    assert.deepEqual(h.failures, [])
  })

  it('runs nodes in this process too, where kill is refused', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { fabric: fast, persistent: false } })
    open.push(h)
    await h.start([{ name: 'a', root: true }, { name: 'b' }, { name: 'c' }])
    await h.waitFor(h.fullMesh(), 15_000)
    await assert.rejects(h.kill('b'), HarnessError)
    await assert.rejects(h.restart('a'), /is up/)
  })

  it('runs an engine of your own from a .ts module in the worker processes, and its plugin commands', async () => {
    const module = new URL('./fixtures/tally-engine.ts', import.meta.url)
    const h = await Harness.create({ defaults: { fabric: fast } })
    open.push(h)
    await h.start([
      { name: 'vp0', root: true, engine: { module, options: { label: 'tally' } }, plugins: [{ module, export: 'tallyPlugin' }] },
      { name: 'nvp0', validator: false }
    ])
    await h.waitFor(h.topology(1), 30_000)

    const res = await h.submit('nvp0', 'tally-tx')
    assert.equal(res.status, 'SUCCESS', res.message)
    assert.equal(res.message, 'tally 1 at vp0', 'the non-validator forwarded it to the engine from the module')
    assert.deepEqual(await h.call('vp0', 'tally'), { transactions: 1, height: 0 })
    await assert.rejects(h.call('vp0', 'nothing'), /vp0 has no plugin command "nothing"/)
    assert.deepEqual(h.failures, [])
  })

  it('refuses a module it cannot load, saying why', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false } })
    open.push(h)
    await assert.rejects(h.start([{ name: 'a', engine: { module: './tally-engine.ts' } }]), /absolute path or a file URL/)
    await assert.rejects(h.start([{ name: 'b', engine: { module: new URL('./fixtures/tally-engine.ts', import.meta.url), export: 'nope' } }]), /export "nope" is missing, not a factory function/)
  })

  it('fails a wait that cannot be met with how far it got', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false, fabric: { touchPeriod: 0 } } })
    open.push(h)
    // no root nodes: nobody learns of anybody
    await h.start([{ name: 'x' }, { name: 'y' }])
    await assert.rejects(h.waitFor(h.fullMesh(), 400), /full mesh.*not reached in 400 ms \(0\/1 chats\)/)
  })
})
