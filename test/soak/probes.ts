/**
 * What an honest user sees while an attack runs, measured from the soak
 * process: a transaction submitted through an admin API (`tx submit`'s
 * request) every second, and every two seconds a new honest peer (a fresh
 * identity with the fabric service, a non-validator) that dials the node and
 * completes a chat hello.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { adminRequest } from '../../src/cli/http.js'
import { createNode } from '../helpers/nodes.js'
import type { HostPort } from './node-process.js'

/** Honest requests in flight at most, per kind: a stuck node is not buried in them */
const MAX_IN_FLIGHT = 4

/** A new peer's dial and hello must complete within this */
const JOIN_TIMEOUT = 10_000

export interface ProbeResult {
  kind: 'tx' | 'join'
  ok: boolean
  ms: number
  error?: string
}

export interface ProbeTargets {
  /** The admin API to submit transactions through (read at each probe: the node may restart) */
  txAdmin(): HostPort | undefined
  /** The node new peers join (its multiaddr) */
  joinAddress(): string | undefined
  /** The node runs with security on: new peers sign */
  secure: boolean
}

export class HonestProbes {
  readonly results: ProbeResult[] = []
  private readonly targets: ProbeTargets
  private readonly txEvery: number
  private readonly joinEvery: number
  private readonly inFlight = { tx: new Set<Promise<void>>(), join: new Set<Promise<void>>() }
  private timers: Array<ReturnType<typeof setInterval>> = []
  private seq = 0

  constructor (targets: ProbeTargets, txEvery = 1_000, joinEvery = 2_000) {
    this.targets = targets
    this.txEvery = txEvery
    this.joinEvery = joinEvery
  }

  start (): void {
    this.timers = [
      setInterval(() => { this.launch('tx', async () => this.tx()) }, this.txEvery),
      setInterval(() => { this.launch('join', async () => this.join()) }, this.joinEvery)
    ]
  }

  /** Stop sending; wait for the requests in flight (each bounded by its own timeout) */
  async stop (): Promise<void> {
    this.timers.forEach(timer => { clearInterval(timer) })
    this.timers = []
    await Promise.allSettled([...this.inFlight.tx, ...this.inFlight.join])
  }

  /** Run one probe of each kind now and wait for them: is the node serving? */
  async once (): Promise<ProbeResult[]> {
    const from = this.results.length
    await Promise.all([this.tx(), this.join()])
    return this.results.slice(from)
  }

  private launch (kind: 'tx' | 'join', probe: () => Promise<void>): void {
    const set = this.inFlight[kind]

    if (set.size >= MAX_IN_FLIGHT) {
      return
    }

    const running = probe().finally(() => { set.delete(running) })
    set.add(running)
  }

  private async tx (): Promise<void> {
    const at = this.targets.txAdmin()
    const started = performance.now()

    try {
      if (at == null) throw new Error('no admin API (node down)')
      const answer = await adminRequest(at, 'POST', '/transactions', { chaincode: 'soak-honest', payload: String(++this.seq) })

      if (answer.status !== 'SUCCESS') {
        throw new Error(`${answer.status}: ${answer.message}`)
      }

      this.record('tx', started)
    } catch (err: any) {
      this.record('tx', started, err)
    }
  }

  private async join (): Promise<void> {
    const address = this.targets.joinAddress()
    let node

    try {
      if (address == null) throw new Error('no address (node down)')
      // a non-validator: a validator that joins and leaves would be in the node's validator set (the noops
      // engine's choice of sequencer) for a moment, and honest transactions sent to it then would fail
      node = await createNode({ listen: [], fabric: { validator: false, touchPeriod: 0, security: this.targets.secure ? { enabled: true } : undefined } })
      const started = performance.now()

      try {
        await node.services.fabric.chatWithPeer(multiaddr(address), { signal: AbortSignal.timeout(JOIN_TIMEOUT) })
        this.record('join', started)
      } catch (err: any) {
        this.record('join', started, err)
      }
    } catch (err: any) {
      this.record('join', performance.now(), err)
    } finally {
      await Promise.resolve(node?.stop()).catch(() => {})
    }
  }

  private record (kind: ProbeResult['kind'], started: number, err?: Error): void {
    this.results.push({ kind, ok: err == null, ms: performance.now() - started, error: err == null ? undefined : String(err.message ?? err).slice(0, 240) })
  }
}

/** Median and maximum of the successful ones, and how many failed */
export function summarize (results: ProbeResult[], kind?: ProbeResult['kind']): { median?: number, max?: number, ok: number, failed: number, errors: string[] } {
  const mine = results.filter(r => kind == null || r.kind === kind)
  const times = mine.filter(r => r.ok).map(r => r.ms).sort((x, y) => x - y)
  const errors = [...new Set(mine.filter(r => !r.ok).map(r => `${r.kind}: ${r.error ?? '?'}`))]
  return {
    median: times.length === 0 ? undefined : times[Math.floor((times.length - 1) / 2)],
    max: times.length === 0 ? undefined : times[times.length - 1],
    ok: times.length,
    failed: mine.length - times.length,
    errors
  }
}
