/**
 * A `fabric-peer node start` the soak and fuzz runs attack: the CLI from
 * source, spawned as `node --import tsx src/cli/bin.ts` on the project's Node,
 * so the child's pid is the node itself (no npm or tsx wrapper) and its
 * memory and CPU can be read from /proc.
 */

import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stopChild } from './workspace.js'
import type { Workspace } from './workspace.js'
import type { ChildProcess } from 'node:child_process'

/** This checkout: the node runs from its src/ unless SOAK_NODE_ROOT names another (to compare before and after a change) */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface HostPort {
  host: string
  port: number
}

export interface FabricProcessOptions {
  /** For progress lines */
  name: string
  dataDir: string
  validator: boolean
  rootNodes?: string[]
  /** Serve /metrics on 127.0.0.1 too */
  metrics?: boolean
  /** More configuration as CORE_* variables (security, touch period) */
  env?: Record<string, string>
  /** The checkout whose src/cli/bin.ts runs (default: this one) */
  root?: string
}

/** Clock ticks per second of /proc/<pid>/stat's times */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export class FabricProcess {
  readonly options: FabricProcessOptions
  private readonly workspace: Workspace
  private cli?: CliProcess
  /** The TCP port the node listens on: port 0 the first time, then the same one on every restart */
  private port = 0
  peerId = ''
  /** Its listen multiaddr, ending in /p2p/<id> */
  address = ''
  admin?: HostPort
  metrics?: HostPort
  /** Starts, the first included */
  starts = 0
  private stopping = false

  constructor (workspace: Workspace, options: FabricProcessOptions) {
    this.workspace = workspace
    this.options = options
  }

  /** Start it (again, on the same port and data directory) and wait until it prints `ready` */
  async start (): Promise<void> {
    const { options } = this
    const args = [
      '--data', options.dataDir,
      '--listen', `/ip4/127.0.0.1/tcp/${this.port}`,
      '--admin', '127.0.0.1:0',
      options.validator ? '--validator' : '--non-validator'
    ]

    if (options.rootNodes != null && options.rootNodes.length > 0) {
      args.push('--root-node', options.rootNodes.join(','))
    }

    if (options.metrics === true) {
      args.push('--metrics', '127.0.0.1:0')
    }

    this.stopping = false
    this.cli = new CliProcess(options.root ?? process.env.SOAK_NODE_ROOT ?? ROOT, args, options.env)
    this.workspace.child(this.cli.child)
    this.starts++
    const ready = await this.cli.ready()
    this.peerId = ready.peerId
    this.address = ready.address
    this.port = Number(/\/tcp\/(\d+)/.exec(ready.address)?.[1] ?? 0)
    this.admin = hostPort(ready.admin)
    this.metrics = ready.metrics == null ? undefined : hostPort(new URL(ready.metrics).host)
  }

  /** Stop it cleanly (SIGTERM; SIGKILL after 15 s) */
  async stop (): Promise<number | null | undefined> {
    this.stopping = true
    await this.cli?.stop()
    return this.cli?.child.exitCode
  }

  async restart (): Promise<void> {
    await this.stop()
    await this.start()
  }

  get pid (): number | undefined {
    return this.cli?.child.pid
  }

  /** Running, and not stopped by us */
  get up (): boolean {
    return this.cli != null && this.cli.child.exitCode == null && this.cli.child.signalCode == null
  }

  /** Why it is not up, when it died on its own */
  get death (): string | undefined {
    const child = this.cli?.child

    if (child == null || this.up || this.stopping) {
      return undefined
    }

    const last = this.cli?.stderr.trim().split('\n').slice(-1)[0] ?? ''
    return `exited ${child.exitCode ?? child.signalCode}${last === '' ? '' : `: ${last.slice(0, 160)}`}`
  }

  /** What the current process printed, stdout then stderr */
  get output (): string {
    return `${this.cli?.stdout ?? ''}${this.cli?.stderr ?? ''}`
  }

  /** Resident memory in MB (VmRSS), or undefined when it is not running */
  rss (): number | undefined {
    const status = this.proc('status')
    const kb = status == null ? undefined : /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
    return kb == null ? undefined : Number(kb) / 1024
  }

  /** CPU time used so far (user + system), in seconds */
  cpu (): number | undefined {
    const stat = this.proc('stat')

    if (stat == null) {
      return undefined
    }

    // the fields after the command name in parentheses, which may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  }

  private proc (file: string): string | undefined {
    if (!this.up || this.pid == null) {
      return undefined
    }

    try {
      return readFileSync(`/proc/${this.pid}/${file}`, 'utf8')
    } catch {
      return undefined
    }
  }
}

function hostPort (text: string): HostPort | undefined {
  const at = text.lastIndexOf(':')
  return text === '' || at < 0 ? undefined : { host: text.slice(0, at), port: Number(text.slice(at + 1)) }
}

/**
 * `node --import tsx <root>/src/cli/bin.ts node start ARGS`, its output kept
 * (as test/helpers/cli.ts's CliNode, from any checkout). The environment
 * has no CORE_* of the developer's own.
 */
class CliProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''

  constructor (root: string, args: string[], env: Record<string, string> = {}) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CORE_')))
    this.child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/bin.ts'), 'node', 'start', ...args], {
      cwd: root,
      env: { ...clean, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk })
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
  }

  /** What `node start` printed once ready: PeerId, first listen address, admin and metrics */
  async ready (timeout = 30_000): Promise<{ peerId: string, address: string, admin: string, metrics?: string }> {
    const deadline = Date.now() + timeout

    while (!/^ready/m.test(this.stdout)) {
      if (this.child.exitCode != null || this.child.signalCode != null || Date.now() > deadline) {
        throw new Error(`fabric-peer node start ${this.child.exitCode != null ? `exited with ${this.child.exitCode}` : `was not ready within ${timeout}ms`}\n${this.stdout}${this.stderr}`)
      }

      await new Promise(resolve => setTimeout(resolve, 50))
    }

    return {
      peerId: /^PeerId: +(\S+)/m.exec(this.stdout)?.[1] ?? '',
      address: /^listening: +(\S+)/m.exec(this.stdout)?.[1] ?? '',
      admin: /^admin: +http:\/\/(\S+)/m.exec(this.stdout)?.[1] ?? '',
      metrics: /^metrics: +(http:\/\/\S+)/m.exec(this.stdout)?.[1]
    }
  }

  async stop (): Promise<void> {
    await stopChild(this.child)
  }
}
