/**
 * The multi-node harness: starts N fabric nodes with chosen roles, root nodes,
 * data directories, engines and libp2p limits, either as worker processes (the
 * default: one process per node, or `nodesPerProcess` nodes each) or in this
 * process; waits for conditions with timeouts (full mesh, every non-validator
 * with k validators, your own); kills (SIGKILL) and restarts nodes on their
 * data directory and port; submits transactions; collects chat events with
 * wall-clock times; prints progress lines on long waits.
 */

import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fullMesh, nonValidatorsConnected, summarise, topology } from './conditions.js'
import { moduleUrl } from './modules.js'
import { NodeHost } from './node-host.js'
import { HarnessError } from './errors.js'
import { workerLaunch } from './worker-launch.js'
import { WorkerProcess } from './worker-process.js'
import type { Condition } from './conditions.js'
import type { Command, LedgerSummary, ModuleRef, NodeEvent, NodeSpec, NodeStatus, Reply, ResolvedSpec, TxResult } from './protocol.js'

export interface HarnessInit {
  /**
   * Data directories (`data/<name>`) and worker logs (`logs/`) go here
   *
   * @default a new directory under the OS temp dir, removed by close()
   */
  dir?: string
  /**
   * Keep `dir` after close()
   *
   * @default false for a directory the harness made, true for one you gave
   */
  keep?: boolean
  /**
   * 'process': nodes run in worker processes; 'inline': in this process (kill() is not available)
   *
   * @default 'process'
   */
  mode?: 'process' | 'inline'
  /**
   * Nodes per worker process when several are started together
   *
   * @default 1
   */
  nodesPerProcess?: number
  /**
   * How often workers push status besides on every chat event, ms
   *
   * @default 500
   */
  statusInterval?: number
  /** Progress lines on long work: true prints to stdout, or give a function */
  progress?: boolean | ((line: string) => void)
  /** Copy what workers write (stdout, stderr) to this process's stderr, besides their log files */
  echo?: boolean
  /** Extra Node flags for worker processes, e.g. ['--cpu-prof', '--cpu-prof-dir=prof'] */
  nodeOptions?: string[]
  /** Applied under every spec */
  defaults?: Partial<NodeSpec>
  /**
   * Where each node's process runs, e.g. a network namespace per node. Nodes
   * then run one per process, never inline.
   */
  placement?: Placement
}

/**
 * Puts each node somewhere: asked once per node when it is added, for the
 * address it listens on and a command its worker runs under (e.g.
 * `['ip', 'netns', 'exec', 'ns-vp0']`). `close()` runs when the harness closes.
 */
export interface Placement {
  place(name: string): { host?: string, command?: string[] }
  close?(): void | Promise<void>
}

export type NodeState = 'starting' | 'up' | 'stopped' | 'killed' | 'crashed'

/** A node of the harness, as the harness sees it */
export interface HarnessNode {
  readonly spec: ResolvedSpec
  state: NodeState
  /** Its latest status (kept after it stops) */
  status?: NodeStatus
  /** Known once it has started */
  peerId?: string
  /** Its first listen address, with /p2p/ */
  address?: string
  /** The worker process it runs in, shared with the nodes started with it when `nodesPerProcess` > 1; none inline */
  pid?: number
  /** Wall-clock ms of its last start */
  startedAt?: number
}

export { HarnessError }

/** Nodes running in this process */
interface InlineWorker {
  names: string[]
  inline: Map<string, NodeHost>
  child?: undefined
  log?: undefined
}

type Worker = WorkerProcess | InlineWorker

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/**
 * Start with `Harness.create()`, end with `close()`; see the package
 * documentation for an example.
 */
export class Harness {
  /** Data directories and logs */
  readonly dir: string
  /** Every chat event of every node, in arrival order */
  readonly events: NodeEvent[] = []
  /** Unhandled rejections, uncaught exceptions and unexpected exits of workers */
  readonly failures: Array<{ node: string, error: string }> = []
  private readonly init: HarnessInit
  private readonly nodes = new Map<string, HarnessNode>()
  private readonly workers = new Map<string, Worker>()
  private readonly commands = new Map<string, string[]>()
  private readonly started = Date.now()
  private readonly ownDir: boolean
  private closed = false
  private readonly listeners = new Set<() => void>()

  private constructor (dir: string, ownDir: boolean, init: HarnessInit) {
    this.dir = dir
    this.ownDir = ownDir
    this.init = init
  }

  static async create (init: HarnessInit = {}): Promise<Harness> {
    // workers run on this Node: libp2p 3 needs 22+
    if (Number(process.versions.node.split('.')[0]) < 22) {
      throw new HarnessError(`the harness needs Node >= 22 (libp2p 3), this is ${process.version}`)
    }
    if (init.placement != null && init.mode === 'inline') throw new HarnessError('a placement runs nodes as processes, not inline')
    if (init.placement != null && (init.nodesPerProcess ?? 1) !== 1) throw new HarnessError('a placement runs one node per process')
    const dir = init.dir ?? await mkdtemp(join(tmpdir(), 'fabric-harness-'))
    await mkdir(join(dir, 'logs'), { recursive: true })
    return new Harness(dir, init.dir == null, init)
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
    const added = specs.map(spec => this.add(spec))
    const roots = added.filter(n => n.spec.root === true)
    const rest = added.filter(n => n.spec.root !== true)
    const timeout = options.timeout ?? 30_000 + 500 * specs.length
    if (roots.length > 0) await this.launch(roots, timeout)
    if (rest.length > 0) await this.launch(rest, timeout)
    this.progress(`${specs.length} node(s) started: ${summarise(specs.map(s => s.name))}`)
    return added
  }

  node (name: string): HarnessNode {
    const n = this.nodes.get(name)
    if (n == null) throw new HarnessError(`no node named ${name}`)
    return n
  }

  /** Every node, in the order they were added */
  all (): HarnessNode[] { return [...this.nodes.values()] }
  /** The nodes that are up */
  up (): HarnessNode[] { return this.all().filter(n => n.state === 'up') }
  /** The name of the node with this PeerId */
  nameOf (peerId: string): string | undefined { return this.all().find(n => n.peerId === peerId)?.spec.name }

  private add (spec: NodeSpec): HarnessNode {
    if (this.nodes.has(spec.name)) throw new HarnessError(`node ${spec.name} already exists`)
    if (!/^[\w.-]+$/.test(spec.name)) throw new HarnessError(`node name ${JSON.stringify(spec.name)}: use letters, digits, '.', '-', '_'`)
    const merged: NodeSpec = { ...this.init.defaults, ...spec, fabric: { ...this.init.defaults?.fabric, ...spec.fabric }, libp2p: { ...this.init.defaults?.libp2p, ...spec.libp2p } }
    const node: HarnessNode = {
      spec: {
        ...merged,
        engine: typeof merged.engine === 'object' ? resolveModule(merged.engine) : merged.engine,
        plugins: merged.plugins?.map(resolveModule),
        rootNodes: merged.rootNodes ?? [],
        dataDir: merged.persistent === false ? undefined : merged.dataDir ?? join(this.dir, 'data', spec.name)
      },
      state: 'starting'
    }
    if (this.init.placement != null) {
      const { host, command } = this.init.placement.place(spec.name)
      if (host != null) node.spec.host = host
      if (command != null && command.length > 0) this.commands.set(spec.name, command)
    }
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
    const worker: InlineWorker = { names: group.map(n => n.spec.name), inline: hosts }
    group.forEach(n => { this.workers.set(n.spec.name, worker); n.pid = undefined })
    for (const spec of specs) hosts.set(spec.name, await NodeHost.start(spec, (e) => { this.onEvent(e) }))
    return [...hosts.values()].map(h => h.status())
  }

  private async launchProcess (group: HarnessNode[], specs: ResolvedSpec[], timeout: number): Promise<NodeStatus[]> {
    const names = group.map(n => n.spec.name)
    const { script, execArgv } = await workerLaunch(specs)
    const worker = new WorkerProcess({
      names,
      init: { specs, statusInterval: this.init.statusInterval ?? 500 },
      script,
      execArgv: [...execArgv, ...(this.init.nodeOptions ?? [])],
      command: this.commands.get(names[0]),
      logFile: join(this.dir, 'logs', `${names.length > 3 ? `${names[0]}-${names[names.length - 1]}` : names.join('+')}.log`),
      echo: this.init.echo
    })
    group.forEach(n => { this.workers.set(n.spec.name, worker); n.pid = worker.child.pid })

    void worker.exited.then(code => {
      for (const n of group) {
        if (this.workers.get(n.spec.name) !== worker) continue
        if (n.state === 'up' || n.state === 'starting') {
          n.state = 'crashed'
          this.failures.push({ node: n.spec.name, error: `worker exited unexpectedly with code ${code}` })
          this.progress(`${n.spec.name} exited unexpectedly (code ${code})`)
        }
      }
      this.changed()
    })

    return worker.ready(timeout, (reply) => { this.onReply(worker, reply) })
  }

  private onReply (worker: Worker, reply: Reply): void {
    switch (reply.kind) {
      case 'ready':
      case 'status':
        for (const s of reply.statuses) {
          const n = this.nodes.get(s.name)
          if (n != null && this.workers.get(s.name) === worker && n.state === 'up') n.status = s
        }
        this.changed()
        break
      case 'event':
        this.onEvent(reply.event)
        break
      case 'fatal':
        for (const name of worker.names) this.failures.push({ node: name, error: reply.error })
        this.progress(`${worker.names.join(', ')}: ${reply.error.split('\n')[0]}`)
        break
    }
  }

  private onEvent (event: NodeEvent): void {
    this.events.push(event)
    const n = this.nodes.get(event.node)
    if (n?.status != null && n.state === 'up' && this.workers.get(event.node)?.inline == null) {
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
    const worker = this.workers.get(node.spec.name)
    if (node.state !== 'up' || worker == null) throw new HarnessError(`${node.spec.name} is ${node.state}`)
    if (worker.inline != null) return this.runInline(worker.inline, cmd as Command) as Promise<T>
    return worker.request<T>(cmd, timeout, node.spec.name)
  }

  private async runInline (hosts: Map<string, NodeHost>, cmd: Command): Promise<unknown> {
    if (cmd.cmd === 'status' || cmd.cmd === 'stop') throw new HarnessError(`${cmd.cmd} is not run inline`)
    const host = hosts.get(cmd.node)
    if (host == null) throw new HarnessError(`${cmd.cmd}: no node ${cmd.node} here`)
    return host.run(cmd).catch((err: Error) => { throw new HarnessError(err.message) })
  }

  /** Latest statuses of the nodes that are up (inline nodes are read now) */
  statuses (): NodeStatus[] {
    return this.up().map(n => {
      const inline = this.workers.get(n.spec.name)?.inline?.get(n.spec.name)
      if (inline != null) n.status = inline.status()
      return n.status!
    }).filter(s => s != null)
  }

  /** CPU µs used so far by the processes of the live nodes (a process hosting several counted once), as of the latest statuses */
  cpuMicros (): number {
    const seen = new Set<Worker | undefined>()
    let sum = 0
    for (const n of this.up()) {
      const worker = this.workers.get(n.spec.name)
      if (seen.has(worker)) continue
      seen.add(worker)
      sum += n.status?.cpuMicros ?? 0
    }
    return sum
  }

  /** Ask every worker for a fresh status now */
  async refresh (): Promise<NodeStatus[]> {
    await Promise.all(this.up().filter(n => this.workers.get(n.spec.name)?.inline == null && this.workers.get(n.spec.name)?.names[0] === n.spec.name).map(async n => {
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
    const worker = this.workers.get(name)
    if (n.state !== 'up' || worker?.child == null) throw new HarnessError(`cannot kill ${name}: it is ${n.state}${worker?.inline != null ? ' (inline)' : ''}`)
    if (worker.names.length > 1) throw new HarnessError(`cannot kill ${name} alone: its process also runs ${worker.names.filter(x => x !== name).join(', ')}`)
    n.state = 'killed'
    worker.child.kill('SIGKILL')
    await withTimeout(worker.exited, 10_000, `${name} to exit after SIGKILL`)
    this.progress(`killed ${name} (SIGKILL)`)
    this.changed()
  }

  /** Stop a node cleanly (libp2p stop: chats closed with a goodbye, discovery list flushed) */
  async stop (name: string): Promise<void> {
    const n = this.node(name)
    if (n.state !== 'up') return
    const worker = this.workers.get(name)!
    n.state = 'stopped'
    if (worker.inline != null) {
      await worker.inline.get(name)?.stop()
      worker.inline.delete(name)
    } else if (worker.names.length > 1 && worker.names.some(x => x !== name && this.nodes.get(x)?.state === 'up')) {
      n.state = 'up'
      await this.request(n, { cmd: 'stop', node: name }, 30_000)
      n.state = 'stopped'
    } else if (!(await worker.stop(30_000))) {
      this.failures.push({ node: name, error: 'did not stop within 30 s; killed' })
    }
    this.progress(`stopped ${name}`)
    this.changed()
  }

  /**
   * Start a stopped or killed node again: same identity, data directory and
   * port. `spec` changes its spec from now on (say, a `settleTime` for
   * restarts only); not its name or data directory.
   */
  async restart (name: string, options: { timeout?: number, spec?: Partial<Omit<NodeSpec, 'name' | 'dataDir' | 'persistent'>> } = {}): Promise<HarnessNode> {
    const n = this.node(name)
    if (n.state === 'up' || n.state === 'starting') throw new HarnessError(`${name} is ${n.state}`)
    if (n.spec.dataDir == null) throw new HarnessError(`${name} is not persistent: a restart would be a new peer`)
    if (options.spec != null) {
      const { engine, plugins, ...rest } = options.spec
      Object.assign(n.spec, rest)
      if (engine != null) n.spec.engine = typeof engine === 'object' ? resolveModule(engine) : engine
      if (plugins != null) n.spec.plugins = plugins.map(resolveModule)
    }
    await this.launch([n], options.timeout ?? 30_000)
    this.progress(`restarted ${name}`)
    return n
  }

  // ---------------------------------------------------------------- work

  /** Submit a transaction at a node (a validator hands it to its engine, a non-validator forwards it) */
  async submit (name: string, txid: string, payload?: string, timeout = 30_000): Promise<TxResult> {
    return this.request<TxResult>(this.node(name), { cmd: 'submit', node: name, txid, payload }, timeout)
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

  /** Run a command of one of the node's plugins (`Plugin.commands`) and resolve with its result */
  async call<T = unknown> (name: string, command: string, args?: unknown, timeout = 60_000): Promise<T> {
    return this.request<T>(this.node(name), { cmd: 'call', node: name, command, args }, timeout)
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

  /** Every live validator (of `names`) has a chat with every other live one */
  fullMesh (names?: string[]): Condition { return fullMesh(names) }

  /** Every live non-validator has chats with at least `k` live validators (or all of them, if fewer) */
  nonValidatorsConnected (k: number): Condition { return nonValidatorsConnected(k) }

  /** The topology the roles call for: a full mesh of validators, and every non-validator with `k` validators */
  topology (k = 2): Condition { return topology(k) }

  // ---------------------------------------------------------------- the end

  /** Stop every node (cleanly, then SIGKILL after 20 s) and remove the directory unless kept */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const workers = new Set(this.workers.values())
    await Promise.all([...workers].map(async w => {
      if (w.inline != null) {
        await Promise.allSettled([...w.inline.values()].map(async h => h.stop()))
        return
      }
      if (w.gone) return
      for (const name of w.names) { const n = this.nodes.get(name); if (n?.state === 'up') n.state = 'stopped' }
      if (!(await w.stop(20_000))) {
        for (const name of w.names) this.failures.push({ node: name, error: 'did not stop within 20 s; killed' })
      }
    }))
    await this.init.placement?.close?.()
    if (this.ownDir && this.init.keep !== true) await rm(this.dir, { recursive: true, force: true })
  }

  /** The log file of a node's current or last worker */
  logOf (name: string): string | undefined {
    this.node(name)
    return this.workers.get(name)?.log?.path as string | undefined
  }

  /** Milliseconds since the harness was created */
  elapsed (): number { return Date.now() - this.started }
}

/** The module as a file URL: the spec goes to another process as JSON */
function resolveModule (ref: ModuleRef): ModuleRef {
  try {
    return { ...ref, module: moduleUrl(ref.module) }
  } catch (err: any) {
    throw new HarnessError(err.message)
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new HarnessError(`timed out after ${ms} ms waiting for ${what}`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
