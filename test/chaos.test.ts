/**
 * A short chaos run on loopback: validators and non-validators as processes,
 * a few SIGKILLs and restarts while transactions are submitted; then the
 * recovery conditions (not timings): every live node back in its role's
 * topology, every persisted discovery list readable after a final SIGKILL, no
 * unhandled rejection anywhere, no SUCCESS transaction missing from a
 * validator's ledger. `npm run chaos` runs the long version (and netns mode).
 */

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runChaos } from './chaos/chaos.js'

describe('chaos (short, loopback)', () => {
  it('a network of 4 validators and 2 non-validators survives SIGKILLs and restarts under transactions', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000)
    const report = await runChaos({ validators: 4, nonValidators: 2, duration: 8_000, seed, discoveryPeriod: 500, touchPeriod: 1_000, txEvery: 150 })

    assert.ok(report.faults.filter(f => f.kind === 'kill').length >= 2, `at least two kills (seed ${seed})`)
    assert.ok(report.transactions.success > 0, `some transactions went through (seed ${seed})`)
    assert.ok(Number.isFinite(report.recoveryMs), `the topology came back (seed ${seed})`)
    assert.deepEqual(report.missing, [], `every SUCCESS in every validator's ledger (seed ${seed})`)
    assert.ok(report.lists.every(l => l.error == null && l.addresses > 0), `persisted lists readable: ${JSON.stringify(report.lists)}`)
    assert.deepEqual(report.failures, [])
    assert.deepEqual(report.problems, [], `seed ${seed}`)
  })
})
