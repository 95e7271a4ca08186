/**
 * The noops engine's sequencing rules that keep chains from forking under the
 * usual faults: a validator does not sequence while settling after a start,
 * without a majority of the validators it knows, or while behind one of them.
 */

import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Harness } from '../src/testing/index.js'

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

  it('a validator that has just started waits settleTime before it sequences', async () => {
    const h = await Harness.create({ mode: 'inline', defaults: { persistent: false, fabric: fast, settleTime: 60_000 } })
    open.push(h)
    await h.start([{ name: 'solo' }])
    const res = await h.submit('solo', 'too-soon')
    assert.equal(res.status, 'FAILURE')
    assert.match(res.message, /settling/)
  })
})
