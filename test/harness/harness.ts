/**
 * The multi-node harness: starts N fabric nodes with chosen roles, root nodes,
 * data directories and libp2p limits, either as child processes (the default:
 * one process per node, or `nodesPerProcess` nodes each) or in this process;
 * waits for conditions with timeouts (full mesh, every non-validator with k
 * validators); kills (SIGKILL) and restarts nodes on their data directory and
 * port; collects chat events with wall-clock times; prints progress lines on
 * long waits. Tests, benchmarks and the chaos run all use it.
 *
 * @example
 * ```ts
 * const h = await Harness.create({ progress: true })
 * try {
 *   await h.start([{ name: 'vp0', root: true }, { name: 'vp1' }, { name: 'nvp0', validator: false }])
 *   await h.waitFor(h.topology(), 30_000)
 *   await h.kill('vp1')
 *   await h.restart('vp1')
 *   await h.waitFor(h.topology(), 30_000)
 * } finally {
 *   await h.close()
 * }
 * ```
 */

import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Netns } from './netns.js'
import { NodeHost } from './node-host.js'
import type { NetnsOptions } from './netns.js'
import type { Command, LedgerSummary, NodeEvent, NodeSpec, NodeStatus, Reply, ResolvedSpec, TxResult } from './protocol.js'
import type { WorkerInit } from './worker.js'
import type { ChildProcess } from 'node:child_process'
import type { WriteStream } from 'node:fs'

export type { LedgerSummary, NodeEvent, NodeSpec, NodeStatus, TxResult } from './protocol.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = resolve(HERE, '../..')

export interface HarnessInit {
  /** Data directories and logs go here (default: a new directory under the OS temp dir, removed by close()) */
  dir?: string
  /** Keep `dir` after close() (default: keep only a directory you gave) */
  keep?: boolean
  /** 'process' (default): nodes run in worker processes; 'inline': in this process (kill() is not available) */
  mode?: 'process' | 'inline'
  /** Nodes per worker process when several are started together (default 1) */
  nodesPerProcess?: number
  /** How often workers push status besides on every chat event, ms (default 500) */
  statusInterval?: number
  /** Progress lines on long work: true prints to stdout, or give a function */
  progress?: boolean | ((line: string) => void)
  /** Extra Node flags for worker processes, e.g. ['--cpu-prof', '--cpu-prof-dir=prof'] */
  nodeOptions?: string[]
  /** Applied under every spec */
  defaults?: Partial<NodeSpec>
  /**
   * Each node in its own network namespace on a bridge (root, Linux), with
   * optional netem delay/loss: nodes listen on their namespace address and
   * links can be cut (`cut()`/`restore()`). One node per process. Check
   * `netnsSupport()` first to skip with a reason where it is not available.
   */
  netns?: NetnsOptions | boolean
  /**
   * Wrap a worker's command line, e.g. to run it under another tool:
   * `(specs) => ['ip', 'netns', 'exec', 'ns-' + specs[0].name]`
   */
  wrap?: (specs: ResolvedSpec[]) => string[] | undefined
}

/** Something to wait for: `check` decides on the latest statuses, `describe` says how far it is */
export interface Condition {
  what: string
  check: (h: Harness) => boolean
  describe?: (h: Harness) => string
}

export type NodeState = 'starting' | 'up' | 'stopped' | 'killed' | 'crashed'

interface Worker {
  id: number
  names: string[]
  child?: ChildProcess
  log?: WriteStream
  pending: Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>
  exited: Promise<number | null>
  inline?: Map<string, NodeHost>
}

export interface HarnessNode {
  spec: ResolvedSpec
  state: NodeState
  status?: NodeStatus
  /** Known once it has started */
  peerId?: string
  address?: string
  worker?: Worker
  /** Wall-clock ms of its last start */
  startedAt?: number
}

export class HarnessError extends Error {
  override name = 'HarnessError'
}

let nextId = 1

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export class Harness {
  readonly dir: string
  readonly events: NodeEvent[] = []
  /** Unhandled rejections, uncaught exceptions and unexpected exits of workers */
  readonly failures: Array<{ node: string, error: string }> = []
  private readonly init: HarnessInit
  private readonly nodes = new Map<string, HarnessNode>()
  private readonly started = Date.now()
  private workerScript?: string
  private readonly ownDir: boolean
  private closed = false
  private readonly listeners = new Set<() => void>()
  private netns?: Netns

  private constructor (dir: string, ownDir: boolean, init: HarnessInit) {
    this.dir = dir
    this.ownDir = ownDir
    this.init = init
  }

  static async create (init: HarnessInit = {}): Promise<Harness> {
    // workers run on this Node: libp2p 3 needs 22+ (npm scripts put the project's Node 24 first on PATH)
    if (Number(process.versions.node.split('.')[0]) < 22) {
      throw new HarnessError(`the harness needs Node >= 22 (libp2p 3), this is ${process.version}: run it through npm, or put node_modules/.bin first on PATH`)
    }
    const dir = init.dir ?? await mkdtemp(join(tmpdir(), 'fabric-harness-'))
    await mkdir(join(dir, 'logs'), { recursive: true })
    const h = new Harness(dir, init.dir == null, init)
    if ((init.mode ?? 'process') === 'process') h.workerScript = await bundleWorker()
    if (init.netns != null && init.netns !== false) {
      if (init.mode === 'inline') throw new HarnessError('netns mode runs nodes as processes, not inline')
      if ((init.nodesPerProcess ?? 1) !== 1) throw new HarnessError('netns mode runs one node per process')
      h.netns = new Netns(init.netns === true ? {} : init.netns)
    }
    return h
  }

  /** A progress line, with the time since the harness was created */
  progress (line: string): void {
    const p = this.init.progress
    if (p == null || p === false) return
    const text = `  [${((Date.now() - this.started) / 1000).toFixed(1).padStart(5)}s] ${line}`
    if (p === true) process.stdout.write(text + '\n')
    else p(text)
  }

  // ---------------------------------------------------------------- nodes

  /**
   * Start nodes: root nodes first, then the rest together. Resolves when all
   * are listening (not when they are connected: wait for a condition).
   */
  async start (specs: NodeSpec[], options: { timeout?: number } = {}): Promise<HarnessNode[]> {
    const resolved = specs.map(spec => this.add(spec))
    const roots = resolved.filter(n => n.spec.root === true)
    const rest = resolved.filter(n => n.spec.root !== true)
    const timeout = options.timeout ?? 30_000 + 500 * specs.length
    if (roots.length > 0) await this.launch(roots, timeout)
    if (rest.length > 0) await this.launch(rest, timeout)
    this.progress(`${specs.length} node(s) started: ${summarise(specs.map(s => s.name))}`)
    return resolved
  }

  node (name: string): HarnessNode {
    const n = this.nodes.get(name)
    if (n == null) throw new HarnessError(`no node named ${name}`)
    return n
  }

  /** Every node, in the order they were added */
  all (): HarnessNode[] { return [...this.nodes.values()] }
  up (): HarnessNode[] { return this.all().filter(n => n.state === 'up') }
  nameOf (peerId: string): string | undefined { return this.all().find(n => n.peerId === peerId)?.spec.name }

  private add (spec: NodeSpec): HarnessNode {
    if (this.nodes.has(spec.name)) throw new HarnessError(`node ${spec.name} already exists`)
    if (!/^[\w.-]+$/.test(spec.name)) throw new HarnessError(`node name ${JSON.stringify(spec.name)}: use letters, digits, '.', '-', '_'`)
    const merged: NodeSpec = { ...this.init.defaults, ...spec, fabric: { ...this.init.defaults?.fabric, ...spec.fabric }, libp2p: { ...this.init.defaults?.libp2p, ...spec.libp2p } }
    const node: HarnessNode = {
      spec: { ...merged, rootNodes: merged.rootNodes ?? [], dataDir: merged.persistent === false ? undefined : join(this.dir, 'data', spec.name) },
      state: 'starting'
    }
    if (this.netns != null) node.spec.host = this.netns.add(spec.name).ip
    this.nodes.set(spec.name, node)
    return node
  }

  /** Root node names resolved to addresses (a stopped root keeps its last address, as a config file would) */
  private resolveRoots (node: HarnessNode): string[] {
    const names = node.spec.rootNodes.length > 0 || node.spec.root === true
      ? node.spec.rootNodes
      : this.all().filter(n => n.spec.root === true && n !== node).map(n => n.spec.name)
    return names.map(r => {
      if (r.startsWith('/')) return r
      const root = this.node(r)
      if (root.address == null) throw new HarnessError(`root node ${r} of ${node.spec.name} has not started`)
      return root.address
    })
  }

  private async launch (nodes: HarnessNode[], timeout: number): Promise<void> {
    const groups: HarnessNode[][] = []
    const per = Math.max(1, this.init.nodesPerProcess ?? 1)
    for (let i = 0; i < nodes.length; i += per) groups.push(nodes.slice(i, i + per))
    const specs = (group: HarnessNode[]): ResolvedSpec[] => group.map(n => ({ ...n.spec, rootNodes: this.resolveRoots(n) }))

    await Promise.all(groups.map(async group => {
      group.forEach(n => { n.state = 'starting' })
      const statuses = (this.init.mode ?? 'process') === 'inline'
        ? await this.launchInline(group, specs(group))
        : await this.launchProcess(group, specs(group), timeout)
      const now = Date.now()
      for (const n of group) {
        const s = statuses.find(s => s.name === n.spec.name)
        if (s == null) throw new HarnessError(`${n.spec.name} did not report after starting`)
        n.status = s
        n.peerId = s.peerId
        n.address = s.addresses[0]
        n.state = 'up'
        n.startedAt = now
        // a restart comes back on the same port, as a deployed node keeps its address
        n.spec.port = Number(n.address?.split('/tcp/')[1]?.split('/')[0] ?? 0)
      }
    }))
    this.changed()
  }

  private async launchInline (group: HarnessNode[], specs: ResolvedSpec[]): Promise<NodeStatus[]> {
    const hosts = new Map<string, NodeHost>()
    const worker: Worker = { id: nextId++, names: group.map(n => n.spec.name), pending: new Map(), exited: new Promise(() => {}), inline: hosts }
    for (const spec of specs) hosts.set(spec.name, await NodeHost.start(spec, (e) => { this.onEvent(e) }))
    group.forEach(n => { n.worker = worker })
    return [...hosts.values()].map(h => h.status())
  }

  private async launchProcess (group: HarnessNode[], specs: ResolvedSpec[], timeout: number): Promise<NodeStatus[]> {
    const names = group.map(n => n.spec.name)
    const init: WorkerInit = { specs, statusInterval: this.init.statusInterval ?? 500 }
    const wrap = this.netns != null ? this.netns.wrap(specs[0].name) : this.init.wrap?.(specs)
    const args = [this.workerScript!, JSON.stringify(init)]
    // wrapped: `wrap[0] ...wrap[1..] node [nodeOptions] worker.mjs init`
    const wrapped = wrap != null && wrap.length > 0
    const child = fork(args[0], args.slice(1), {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execPath: wrapped ? wrap[0] : process.execPath,
      execArgv: [...(wrapped ? [...wrap.slice(1), process.execPath] : []), ...(this.init.nodeOptions ?? [])]
    })
    const log = createWriteStream(join(this.dir, 'logs', `${names.length > 3 ? `${names[0]}-${names[names.length - 1]}` : names.join('+')}.log`), { flags: 'a' })
    log.write(`--- ${new Date().toISOString()} starting ${names.join(', ')}${wrap != null ? ` via ${wrap.join(' ')}` : ''}\n`)
    child.stdout?.pipe(log, { end: false })
    child.stderr?.pipe(log, { end: false })
    const worker: Worker = {
      id: nextId++,
      names,
      child,
      log,
      pending: new Map(),
      exited: new Promise(resolve => { child.once('exit', (code, signal) => { resolve(code ?? (signal != null ? -1 : null)) }) })
    }
    group.forEach(n => { n.worker = worker })

    const ready = new Promise<NodeStatus[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new HarnessError(`${names.join(', ')} not ready in ${timeout} ms (log: ${log.path})`)) }, timeout)
      child.on('message', (reply: Reply) => {
        if (reply.kind === 'ready') { clearTimeout(timer); resolve(reply.statuses) }
        this.onReply(worker, reply)
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new HarnessError(`${names.join(', ')} exited while starting (code ${code}, signal ${signal}; log: ${log.path})`))
      })
    })

    void worker.exited.then(code => {
      for (const [, p] of worker.pending) { clearTimeout(p.timer); p.reject(new HarnessError(`${names.join(', ')} exited (code ${code})`)) }
      worker.pending.clear()
      log.end()
      for (const n of group) {
        if (n.worker !== worker) continue
        if (n.state === 'up' || n.state === 'starting') {
          n.state = 'crashed'
          this.failures.push({ node: n.spec.name, error: `worker exited unexpectedly with code ${code}` })
          this.progress(`${n.spec.name} exited unexpectedly (code ${code})`)
        }
      }
      this.changed()
    })

    try {
      return await ready
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    }
  }

  private onReply (worker: Worker, reply: Reply): void {
    switch (reply.kind) {
      case 'ready':
      case 'status':
        for (const s of reply.statuses) {
          const n = this.nodes.get(s.name)
          if (n != null && n.worker === worker && n.state === 'up') n.status = s
        }
        this.changed()
        break
      case 'event':
        this.onEvent(reply.event)
        break
      case 'result': {
        const p = worker.pending.get(reply.id)
        if (p == null) break
        worker.pending.delete(reply.id)
        clearTimeout(p.timer)
        if (reply.ok) p.resolve(reply.value)
        else p.reject(new HarnessError(reply.error))
        break
      }
      case 'fatal':
        for (const name of worker.names) this.failures.push({ node: name, error: reply.error })
        this.progress(`${worker.names.join(', ')}: ${reply.error.split('\n')[0]}`)
        break
    }
  }

  private onEvent (event: NodeEvent): void {
    this.events.push(event)
    const n = this.nodes.get(event.node)
    if (n?.status != null && n.state === 'up' && n.worker?.inline == null) {
      // keep the chat lists current between status pushes, so waits end on the event itself
      const other = this.all().find(o => o.peerId === event.peer)
      const list = other?.spec.validator === false ? n.status.nonValidators : n.status.validators
      if (event.type === 'established' && event.peer != null && !list.includes(event.peer)) list.push(event.peer)
      if (event.type === 'closed' && event.peer != null) {
        n.status.validators = n.status.validators.filter(p => p !== event.peer)
        n.status.nonValidators = n.status.nonValidators.filter(p => p !== event.peer)
      }
    }
    this.changed()
  }

  private changed (): void {
    for (const l of [...this.listeners]) l()
  }

  private async request<T> (node: HarnessNode, cmd: DistributiveOmit<Command, 'id'>, timeout = 60_000): Promise<T> {
    const worker = node.worker
    if (node.state !== 'up' || worker == null) throw new HarnessError(`${node.spec.name} is ${node.state}`)
    if (worker.inline != null) return this.runInline(worker.inline, cmd as Command) as Promise<T>
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.pending.delete(id)
        reject(new HarnessError(`${cmd.cmd} at ${node.spec.name}: no answer in ${timeout} ms`))
      }, timeout)
      worker.pending.set(id, { resolve, reject, timer })
      worker.child!.send({ ...cmd, id })
    })
  }

  private async runInline (hosts: Map<string, NodeHost>, cmd: Command): Promise<unknown> {
    if (cmd.cmd === 'status' || cmd.cmd === 'stop') throw new HarnessError(`${cmd.cmd} is not run inline`)
    const host = hosts.get(cmd.node)
    if (host == null) throw new HarnessError(`${cmd.cmd}: no node ${cmd.node} here`)
    return host.run(cmd)
  }

  /** Latest statuses of the nodes that are up (inline nodes are read now) */
  statuses (): NodeStatus[] {
    return this.up().map(n => {
      const inline = n.worker?.inline?.get(n.spec.name)
      if (inline != null) n.status = inline.status()
      return n.status!
    }).filter(s => s != null)
  }

  /** CPU µs used so far by the processes of the live nodes (a process hosting several counted once), as of the latest statuses */
  cpuMicros (): number {
    const seen = new Set<Worker | undefined>()
    let sum = 0
    for (const n of this.up()) {
      if (seen.has(n.worker)) continue
      seen.add(n.worker)
      sum += n.status?.cpuMicros ?? 0
    }
    return sum
  }

  /** Ask every worker for a fresh status now */
  async refresh (): Promise<NodeStatus[]> {
    await Promise.all(this.up().filter(n => n.worker?.inline == null && n.worker?.names[0] === n.spec.name).map(async n => {
      const statuses = await this.request<NodeStatus[]>(n, { cmd: 'status' }, 10_000)
      for (const s of statuses) {
        const m = this.nodes.get(s.name)
        if (m?.state === 'up') m.status = s
      }
    }))
    return this.statuses()
  }

  // ---------------------------------------------------------------- faults

  /** SIGKILL the node's process: no goodbye, no flush. Only for a node alone in its process. */
  async kill (name: string): Promise<void> {
    const n = this.node(name)
    const worker = n.worker
    if (n.state !== 'up' || worker?.child == null) throw new HarnessError(`cannot kill ${name}: it is ${n.state}${worker?.inline != null ? ' (inline)' : ''}`)
    if (worker.names.length > 1) throw new HarnessError(`cannot kill ${name} alone: its process also runs ${worker.names.filter(x => x !== name).join(', ')}`)
    n.state = 'killed'
    worker.child.kill('SIGKILL')
    await withTimeout(worker.exited, 10_000, `${name} to exit after SIGKILL`)
    this.progress(`killed ${name} (SIGKILL)`)
    this.changed()
  }

  /** Cut a node's link (netns mode): its connections stall, nothing is closed */
  cut (name: string): void {
    if (this.netns == null) throw new HarnessError('cut() needs netns mode')
    this.netns.cut(name)
    this.progress(`cut ${name}'s link`)
  }

  restore (name: string): void {
    if (this.netns == null) throw new HarnessError('restore() needs netns mode')
    this.netns.restore(name)
    this.progress(`restored ${name}'s link`)
  }

  /** Stop a node cleanly (libp2p stop: chats closed with a goodbye, discovery list flushed) */
  async stop (name: string): Promise<void> {
    const n = this.node(name)
    if (n.state !== 'up') return
    const worker = n.worker!
    n.state = 'stopped'
    if (worker.inline != null) {
      await worker.inline.get(name)?.stop()
      worker.inline.delete(name)
    } else if (worker.names.length > 1 && worker.names.some(x => x !== name && this.nodes.get(x)?.state === 'up')) {
      n.state = 'up'
      await this.request(n, { cmd: 'stop', node: name }, 30_000)
      n.state = 'stopped'
    } else {
      worker.child!.send({ cmd: 'stop', id: nextId++ })
      const code = await Promise.race([worker.exited, sleep(30_000).then(() => 'timeout' as const)])
      if (code === 'timeout') {
        worker.child!.kill('SIGKILL')
        this.failures.push({ node: name, error: 'did not stop within 30 s; killed' })
      }
    }
    this.progress(`stopped ${name}`)
    this.changed()
  }

  /** Start a stopped or killed node again: same identity, data directory and port */
  async restart (name: string, options: { timeout?: number } = {}): Promise<HarnessNode> {
    const n = this.node(name)
    if (n.state === 'up' || n.state === 'starting') throw new HarnessError(`${name} is ${n.state}`)
    if (n.spec.dataDir == null) throw new HarnessError(`${name} is not persistent: a restart would be a new peer`)
    await this.launch([n], options.timeout ?? 30_000)
    this.progress(`restarted ${name}`)
    return n
  }

  // ---------------------------------------------------------------- work

  async submit (name: string, txid: string, payload?: string, timeout = 30_000): Promise<TxResult> {
    return this.request<TxResult>(this.node(name), { cmd: 'submit', node: name, txid, payload }, timeout)
  }

  /** `from` sends `count` CONSENSUS messages of `size` bytes to `to` (over its chat, or a raw stream) */
  async blast (from: string, to: string, count: number, size: number, raw = false, timeout = 120_000): Promise<{ ms: number }> {
    const peer = this.node(to).peerId
    if (peer == null) throw new HarnessError(`${to} has not started`)
    return this.request(this.node(from), { cmd: 'blast', node: from, to: peer, count, size, raw }, timeout)
  }

  async broadcast (from: string, count: number, size: number, timeout = 120_000): Promise<{ ms: number }> {
    return this.request(this.node(from), { cmd: 'broadcast', node: from, count, size }, timeout)
  }

  /** Resolves when `total` messages (or raw frames) have reached `name` since it started ('count' engine / `rawBench`) */
  async expect (name: string, total: number, raw = false, timeout = 120_000): Promise<{ received: number, bytes: number }> {
    return this.request(this.node(name), { cmd: 'expect', node: name, total, raw, timeout }, timeout + 5_000)
  }

  /** Round trips from `from` to `to`, one at a time; ms each (both need the 'count' engine, or `rawBench` for raw) */
  async rtt (from: string, to: string, count: number, size = 100, raw = false): Promise<number[]> {
    const peer = this.node(to).peerId
    if (peer == null) throw new HarnessError(`${to} has not started`)
    return this.request(this.node(from), { cmd: 'rtt', node: from, to: peer, count, size, raw }, 120_000)
  }

  /** A node's ledger: height, head block and the transaction ids in block order */
  async ledger (name: string): Promise<LedgerSummary> {
    return this.request(this.node(name), { cmd: 'ledger', node: name }, 30_000)
  }

  /** `from` opens a chat with `to` now (without waiting for the touch loop) */
  async dial (from: string, to: string): Promise<void> {
    const addr = this.node(to).address
    if (addr == null) throw new HarnessError(`${to} has not started`)
    await this.request(this.node(from), { cmd: 'dial', node: from, to: [addr] }, 30_000)
  }

  // ---------------------------------------------------------------- waiting

  /**
   * Wait until `condition` holds, re-checked on every status or event; fails
   * after `timeout` ms with how far it got. Resolves with the ms waited. Prints a
   * progress line every `progressEvery` ms (default 5 s) while it waits.
   */
  async waitFor (condition: Condition, timeout: number, options: { progressEvery?: number } = {}): Promise<number> {
    const start = performance.now()
    if (condition.check(this)) return 0
    let lastProgress = start
    return new Promise<number>((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); clearInterval(poll); this.listeners.delete(check) }
      const check = (): void => {
        if (condition.check(this)) {
          done()
          resolve(performance.now() - start)
        } else if (performance.now() - lastProgress > (options.progressEvery ?? 5_000)) {
          lastProgress = performance.now()
          this.progress(`waiting for ${condition.what}: ${condition.describe?.(this) ?? 'not yet'}`)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new HarnessError(`${condition.what}: not reached in ${timeout} ms (${condition.describe?.(this) ?? 'not yet'})`))
      }, timeout)
      // inline nodes have no pushes; pushes may also be quiet while nothing happens
      const poll = setInterval(check, 100)
      this.listeners.add(check)
    })
  }

  /** Every live validator has a chat with every other live validator */
  fullMesh (names?: string[]): Condition {
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
  nonValidatorsConnected (k: number): Condition {
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

  /** The topology the roles call for: full mesh of validators, and every non-validator with `k` validators (default 2) */
  topology (k = 2): Condition {
    const mesh = this.fullMesh()
    const nvps = this.nonValidatorsConnected(k)
    return {
      what: 'validators in a full mesh, non-validators connected',
      check: (h) => mesh.check(h) && nvps.check(h),
      describe: (h) => `${mesh.describe!(h)}; ${nvps.describe!(h)}`
    }
  }

  // ---------------------------------------------------------------- the end

  /** Stop every node (cleanly, then SIGKILL after 20 s) and remove the directory unless kept */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const workers = new Set(this.all().map(n => n.worker).filter(w => w != null))
    await Promise.all([...workers].map(async w => {
      if (w.inline != null) {
        await Promise.allSettled([...w.inline.values()].map(async h => h.stop()))
        return
      }
      if (w.child == null || w.child.exitCode != null || w.child.signalCode != null) return
      for (const name of w.names) { const n = this.nodes.get(name); if (n?.state === 'up') n.state = 'stopped' }
      try { w.child.send({ cmd: 'stop', id: nextId++ }) } catch {}
      const code = await Promise.race([w.exited, sleep(20_000).then(() => 'timeout' as const)])
      if (code === 'timeout') w.child.kill('SIGKILL')
    }))
    this.netns?.teardown()
    if (this.ownDir && this.init.keep !== true) await rm(this.dir, { recursive: true, force: true })
  }

  /** The log file of a node's current or last worker */
  logOf (name: string): string | undefined {
    return this.node(name).worker?.log?.path as string | undefined
  }

  /** Milliseconds since the harness was created */
  elapsed (): number { return Date.now() - this.started }
}

/** Compile the worker once into a plain ESM bundle beside node_modules (imports stay external): a worker starts in ~0.5 s instead of ~1.5 s under tsx */
async function bundleWorker (): Promise<string> {
  const { build } = await import('esbuild')
  const out = join(REPO, 'node_modules', '.cache', 'fabric-harness')
  await mkdir(out, { recursive: true })
  const result = await build({
    entryPoints: [join(HERE, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    write: false,
    outdir: out,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0].contents
  const file = join(out, `worker-${createHash('sha256').update(code).digest('hex').slice(0, 12)}.mjs`)
  if (!existsSync(file)) await writeFile(file, code)
  return file
}

async function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms).unref())
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new HarnessError(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** "vp0..vp31" style, for progress lines */
function summarise (names: string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 3).join(', ')} … ${names[names.length - 1]} (${names.length})`
}
