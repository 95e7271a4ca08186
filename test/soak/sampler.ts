/** The RSS and CPU of a node process under attack, sampled from /proc every 250 ms */

import type { FabricProcess } from './node-process.js'

/** The node's RSS every 250 ms: its peak, and whether it stayed up */
export class Sampler {
  private readonly node: FabricProcess
  private timer?: ReturnType<typeof setInterval>
  before?: number
  peak?: number
  last?: number
  private cpuStart?: number
  private pidStart?: number
  cpu?: number

  constructor (node: FabricProcess) {
    this.node = node
  }

  start (): void {
    this.before = this.node.rss()
    this.cpuStart = this.node.cpu()
    this.pidStart = this.node.pid
    this.sample()
    this.timer = setInterval(() => { this.sample() }, 250)
  }

  stop (): void {
    clearInterval(this.timer)
    this.sample()
    const cpu = this.node.cpu()
    // CPU of one process: across a restart it does not add up
    this.cpu = cpu != null && this.cpuStart != null && this.node.pid === this.pidStart ? cpu - this.cpuStart : undefined
  }

  line (): string {
    const cpu = this.node.cpu()
    const used = cpu != null && this.cpuStart != null && this.node.pid === this.pidStart ? `, CPU ${(cpu - this.cpuStart).toFixed(1)} s` : ''
    return this.node.up ? `node RSS ${mb(this.last)} MB (peak ${mb(this.peak)})${used}` : `node DOWN (${this.node.death ?? 'stopped'})`
  }

  private sample (): void {
    const rss = this.node.rss()
    this.last = rss

    if (rss != null) {
      this.peak = Math.max(this.peak ?? 0, rss)
    }
  }
}

function mb (n?: number): string {
  return n == null ? '-' : n.toFixed(0)
}
