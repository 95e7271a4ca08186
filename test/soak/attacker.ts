/**
 * The attacker process of the soak run: forked by soak.ts with one attack to
 * run (attacks.ts) until a deadline. Reports its counters every second and
 * its outcome at the end over IPC, stops every node it started, and exits;
 * it exits too when the soak process goes away.
 *
 * Message in: `{ attack, target, until }`. Messages out: `{ kind: 'stats',
 * stats }`, then `{ kind: 'done', outcome }` or `{ kind: 'failed', error }`.
 */

import { AttackRun, ATTACKS } from './attacks.js'
import type { AttackId, AttackOutcome, AttackTarget } from './attacks.js'

export interface AttackOrder {
  attack: Exclude<AttackId, 'i'>
  target: AttackTarget
  /** Wall-clock deadline (ms since the epoch) */
  until: number
}

export type AttackerReport =
  | { kind: 'stats', stats: Record<string, number> }
  | { kind: 'done', outcome: AttackOutcome }
  | { kind: 'failed', error: string }

/** Past its deadline by this much, the attacker exits whatever it is doing */
const OVERRUN = 30_000

const send = (report: AttackerReport): void => { process.send?.(report) }

process.on('disconnect', () => { process.exit(0) })
// a stray rejection in the attacker must not take it down mid-attack
process.on('unhandledRejection', () => {})

process.once('message', (order: AttackOrder) => {
  const run = new AttackRun(order.target, order.until)
  const ticker = setInterval(() => { send({ kind: 'stats', stats: run.stats }) }, 1_000)
  setTimeout(() => {
    send({ kind: 'failed', error: `still running ${OVERRUN}ms after its deadline` })
    process.exit(1)
  }, order.until - Date.now() + OVERRUN).unref()

  void (async () => {
    let report: AttackerReport

    try {
      const defence = await ATTACKS[order.attack](run)
      report = { kind: 'done', outcome: { stats: run.stats, notes: run.notes, defence } }
    } catch (err: any) {
      report = { kind: 'failed', error: err.message ?? String(err) }
    }

    clearInterval(ticker)
    await run.stopAll()
    // the outcome written before the channel closes
    process.send?.(report, () => { process.disconnect?.() })
  })()
})
