/**
 * Separate hosts on one machine: each harness node in its own Linux network
 * namespace, joined to the others by a veth pair on a bridge the run creates,
 * optionally with `tc netem` delay and loss on its link, and links that can be
 * cut and restored. Needs root, `ip` and `tc` (iproute2), and for delay/loss
 * the kernel's sch_netem.
 *
 * Everything is named after this process (`fh<pid in base 36>-…`), removed by
 * `teardown()`, on exit and on SIGINT/SIGTERM; namespaces and bridges left by
 * a run that was killed outright are removed by the next run.
 */

import { execFileSync } from 'node:child_process'
import type { Placement } from '../../src/testing/index.js'

const PREFIX = 'fh'

export interface NetnsOptions {
  /** One-way delay added on every node's link, ms (netem) */
  delay?: number
  /** Packet loss on every node's link, percent (netem) */
  loss?: number
}

export interface NetnsHost {
  name: string
  ns: string
  ip: string
  /** The host-side end of the node's veth pair: cutting it cuts the node off */
  link: string
}

function ip (...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function tryRun (cmd: string, args: string[]): string | undefined {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    return undefined
  } catch (err: any) {
    return String(err.stderr ?? err.message).trim().split('\n')[0]
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

/** Namespaces and bridges of runs whose process is gone */
function removeStale (): void {
  let namespaces: string[] = []
  try { namespaces = ip('netns', 'list').split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(PREFIX)) } catch {}
  for (const ns of namespaces) {
    const pid = parseInt(ns.slice(PREFIX.length).split('-')[0], 36)
    if (!alive(pid)) tryRun('ip', ['netns', 'del', ns])
  }
  let links: string[] = []
  try { links = ip('-o', 'link', 'show', 'type', 'bridge').split('\n').map(l => l.split(': ')[1]?.split('@')[0] ?? '').filter(n => n.startsWith(PREFIX)) } catch {}
  for (const link of links) {
    const pid = parseInt(link.slice(PREFIX.length).split('-')[0], 36)
    if (!alive(pid)) tryRun('ip', ['link', 'del', link])
  }
}

/**
 * Can this machine run nodes in namespaces, and with netem? Says why not.
 * Creates and removes a test namespace, bridge and veth pair.
 */
export function netnsSupport (): { ok: boolean, reason?: string, netem: boolean, netemReason?: string, iptablesLoss: boolean } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces are Linux-only (this is ${process.platform})`, netem: false, iptablesLoss: false }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'creating network namespaces needs root', netem: false, iptablesLoss: false }
  for (const tool of ['ip', 'tc']) {
    if (tryRun(tool, ['-V']) != null) return { ok: false, reason: `\`${tool}\` not found: apt-get install iproute2`, netem: false, iptablesLoss: false }
  }
  removeStale()
  const id = `${PREFIX}${process.pid.toString(36)}-t`
  const ns = `${id}check`
  try {
    const fail = tryRun('ip', ['netns', 'add', ns]) ?? tryRun('ip', ['link', 'add', `${id}a`, 'type', 'veth', 'peer', 'name', `${id}b`])
    if (fail != null) return { ok: false, reason: `cannot create a network namespace and veth pair here: ${fail}`, netem: false, iptablesLoss: false }
    const netemFail = tryRun('tc', ['qdisc', 'add', 'dev', `${id}a`, 'root', 'netem', 'delay', '1ms'])
    // without netem, random loss can still come from iptables' statistic match
    const iptablesLoss = tryRun('ip', ['netns', 'exec', ns, 'iptables', '-A', 'OUTPUT', '-m', 'statistic', '--mode', 'random', '--probability', '0.01', '-j', 'DROP']) == null
    return netemFail == null
      ? { ok: true, netem: true, iptablesLoss }
      : { ok: true, netem: false, netemReason: `tc netem is not available (${netemFail}): this kernel has no sch_netem`, iptablesLoss }
  } finally {
    tryRun('ip', ['link', 'del', `${id}a`])
    tryRun('ip', ['netns', 'del', ns])
  }
}

/**
 * A bridge and one namespace per node, all on 10.77.<n>.0/24. Give it to a
 * harness as its `placement`: each node then listens on its namespace's
 * address and its worker runs inside the namespace.
 */
export class Netns implements Placement {
  readonly hosts = new Map<string, NetnsHost>()
  private readonly id = `${PREFIX}${process.pid.toString(36)}`
  private readonly bridge: string
  private readonly subnet: string
  private readonly options: NetnsOptions
  private torn = false
  private readonly k: number
  /** How loss is made: netem where the kernel has it, else iptables' statistic match in each namespace */
  readonly lossVia: 'netem' | 'iptables'
  private readonly onExit = (): void => { this.teardown() }
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.teardown()
    process.kill(process.pid, signal)
  }

  private static count = 0

  constructor (options: NetnsOptions = {}) {
    const support = netnsSupport()
    if (!support.ok) throw new Error(`netns mode is not available: ${support.reason}`)
    if ((options.delay ?? 0) > 0 && !support.netem) {
      throw new Error(`netns delay is not available: ${support.netemReason}`)
    }
    if ((options.loss ?? 0) > 0 && !support.netem && !support.iptablesLoss) {
      throw new Error(`netns loss is not available: ${support.netemReason}, and iptables' statistic match does not work here (apt-get install iptables)`)
    }
    this.lossVia = support.netem ? 'netem' : 'iptables'
    this.options = options
    const k = Netns.count++
    this.k = k
    this.bridge = `${this.id}-b${k}`
    this.subnet = `10.77.${(process.pid + k) % 250 + 1}`
    // cleanup also when the run is interrupted
    process.once('exit', this.onExit)
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
    ip('link', 'add', this.bridge, 'type', 'bridge')
    ip('link', 'set', this.bridge, 'up')
    ip('addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge)
  }

  /** A namespace for node `name`, linked to the bridge; its address is returned */
  add (name: string): NetnsHost {
    const existing = this.hosts.get(name)
    if (existing != null) return existing
    const i = this.hosts.size + 10
    if (i > 250) throw new Error('at most 240 nodes per netns harness')
    const host: NetnsHost = { name, ns: `${this.id}-${this.k}-${name}`, ip: `${this.subnet}.${i}`, link: `${this.id}-${this.k}v${i}` }
    const peer = `${host.link}p`
    ip('netns', 'add', host.ns)
    ip('link', 'add', host.link, 'type', 'veth', 'peer', 'name', peer)
    ip('link', 'set', peer, 'netns', host.ns)
    ip('link', 'set', host.link, 'master', this.bridge)
    ip('link', 'set', host.link, 'up')
    ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', peer)
    ip('-n', host.ns, 'link', 'set', peer, 'up')
    ip('-n', host.ns, 'link', 'set', 'lo', 'up')
    const { delay = 0, loss = 0 } = this.options
    if (this.lossVia === 'iptables') {
      if (loss > 0) {
        // both directions: the node drops this share of what it sends and of what it receives
        for (const chain of ['OUTPUT', 'INPUT']) {
          execFileSync('ip', ['netns', 'exec', host.ns, 'iptables', '-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', String(loss / 100), '-j', 'DROP'])
        }
      }
    } else if (delay > 0 || loss > 0) {
      // both directions: the node's egress inside its namespace, its ingress on the host side
      const netem = ['root', 'netem', 'delay', `${delay}ms`, 'loss', `${loss}%`]
      execFileSync('tc', ['qdisc', 'add', 'dev', host.link, ...netem])
      execFileSync('ip', ['netns', 'exec', host.ns, 'tc', 'qdisc', 'add', 'dev', peer, ...netem])
    }
    this.hosts.set(name, host)
    return host
  }

  /** Cut the node off: its link goes down (connections stall, nothing is closed) */
  cut (name: string): void {
    ip('link', 'set', this.host(name).link, 'down')
  }

  restore (name: string): void {
    ip('link', 'set', this.host(name).link, 'up')
  }

  /** The command prefix that runs a process in the node's namespace */
  wrap (name: string): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns]
  }

  /** Placement: a namespace for the node; it listens on its address, its worker runs in it */
  place (name: string): { host: string, command: string[] } {
    return { host: this.add(name).ip, command: this.wrap(name) }
  }

  /** Placement: the harness closes */
  close (): void {
    this.teardown()
  }

  private host (name: string): NetnsHost {
    const h = this.hosts.get(name)
    if (h == null) throw new Error(`${name} has no namespace`)
    return h
  }

  /** Remove every namespace, veth and the bridge (synchronous: also runs at exit) */
  teardown (): void {
    if (this.torn) return
    this.torn = true
    process.removeListener('exit', this.onExit)
    process.removeListener('SIGINT', this.onSignal)
    process.removeListener('SIGTERM', this.onSignal)
    for (const h of this.hosts.values()) {
      tryRun('ip', ['link', 'del', h.link])
      tryRun('ip', ['netns', 'del', h.ns])
    }
    tryRun('ip', ['link', 'del', this.bridge])
  }
}
