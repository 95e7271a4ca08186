/**
 * The conditions a harness waits for (`Harness.waitFor`): the topologies the
 * roles call for, decided on the nodes' latest statuses. Write your own as a
 * `Condition` for anything else (a ledger height, an engine's state).
 */

import type { Harness, HarnessNode } from './harness.js'

/** Something to wait for: `check` decides on the latest statuses, `describe` says how far it is */
export interface Condition {
  /** What is awaited, for progress lines and the timeout error */
  what: string
  check: (h: Harness) => boolean
  describe?: (h: Harness) => string
}

/** Every live validator (of `names`, if given) has a chat with every other live one */
export function fullMesh (names?: string[]): Condition {
  const validators = (h: Harness): HarnessNode[] => h.up().filter(n => n.spec.validator !== false && (names == null || names.includes(n.spec.name)))
  const missing = (h: Harness): number => {
    const vs = validators(h)
    const ids = vs.map(v => v.peerId)
    const status = h.statuses()
    return vs.reduce((sum, v) => {
      const s = status.find(x => x.name === v.spec.name)
      const have = new Set(s?.validators ?? [])
      return sum + ids.filter(id => id !== v.peerId && !have.has(id!)).length
    }, 0)
  }
  return {
    what: `a full mesh of ${names == null ? 'all live validators' : summarise(names)}`,
    check: (h) => missing(h) === 0,
    describe: (h) => {
      const n = validators(h).length
      const ends = n * (n - 1)
      return `${Math.round((ends - missing(h)) / 2)}/${ends / 2} chats`
    }
  }
}

/** Every live non-validator has chats with at least `k` live validators (or all of them, if fewer) */
export function nonValidatorsConnected (k: number): Condition {
  const short = (h: Harness): string[] => {
    const live = new Set(h.up().filter(n => n.spec.validator !== false).map(n => n.peerId))
    const want = Math.min(k, live.size)
    return h.statuses().filter(s => !s.validator && s.validators.filter(p => live.has(p)).length < want).map(s => s.name)
  }
  return {
    what: `every non-validator with ${k} validators`,
    check: (h) => short(h).length === 0,
    describe: (h) => { const s = short(h); return s.length === 0 ? 'done' : `short: ${summarise(s)}` }
  }
}

/** The topology the roles call for: a full mesh of validators, and every non-validator with `k` validators */
export function topology (k = 2): Condition {
  const mesh = fullMesh()
  const nvps = nonValidatorsConnected(k)
  return {
    what: 'validators in a full mesh, non-validators connected',
    check: (h) => mesh.check(h) && nvps.check(h),
    describe: (h) => `${mesh.describe!(h)}; ${nvps.describe!(h)}`
  }
}

/** "vp0, vp1, vp2 … vp31 (32)" style, for progress lines */
export function summarise (names: string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 3).join(', ')} … ${names[names.length - 1]} (${names.length})`
}
