import { fork } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { HarnessError } from './errors.js'
import type { Command, NodeStatus, Reply } from './protocol.js'
import type { WorkerInit } from './worker.js'
import type { ChildProcess } from 'node:child_process'
import type { WriteStream } from 'node:fs'

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export interface WorkerSpawn {
  /** The nodes it hosts */
  names: string[]
  init: WorkerInit
  script: string
  execArgv: string[]
  /** A command to run the worker under, e.g. `['ip', 'netns', 'exec', 'ns-vp0']` */
  command?: string[]
  logFile: string
  /** Copy its stdout and stderr to ours too */
  echo?: boolean
}

let nextId = 1

/**
 * One worker process of the harness: forked with an IPC channel, its output
 * in a log file, commands sent with an id and answered by a `result` reply.
 */
export class WorkerProcess {
  readonly names: string[]
  readonly child: ChildProcess
  readonly log: WriteStream
  /** Resolves with the exit code (-1 for a signal) when the process has gone */
  readonly exited: Promise<number | null>
  readonly inline?: undefined
  private readonly pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()

  constructor (spawn: WorkerSpawn) {
    const { names, command } = spawn
    this.names = names
    // under a command: `command[0] ...command[1..] node [flags] worker init`
    this.child = fork(spawn.script, [JSON.stringify(spawn.init)], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execPath: command != null ? command[0] : process.execPath,
      execArgv: [...(command != null ? [...command.slice(1), process.execPath] : []), ...spawn.execArgv]
    })
    this.log = createWriteStream(spawn.logFile, { flags: 'a' })
    this.log.write(`--- ${new Date().toISOString()} starting ${names.join(', ')}${command != null ? ` via ${command.join(' ')}` : ''}\n`)

    for (const out of [this.child.stdout, this.child.stderr]) {
      out?.pipe(this.log, { end: false })
      // not pipe(): one stderr with a dozen pipes into it warns of a listener leak
      if (spawn.echo === true) out?.on('data', (chunk: Buffer) => process.stderr.write(chunk))
    }

    this.exited = new Promise(resolve => { this.child.once('exit', (code, signal) => { resolve(code ?? (signal != null ? -1 : null)) }) })
    void this.exited.then(code => {
      for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new HarnessError(`${names.join(', ')} exited (code ${code})`)) }
      this.pending.clear()
      this.log.end()
    })
  }

  /**
   * Resolves with the nodes' first statuses once the worker says it is ready;
   * every reply but a command's result goes to `onReply`, from now on.
   */
  async ready (timeout: number, onReply: (reply: Reply) => void): Promise<NodeStatus[]> {
    const names = this.names.join(', ')
    const ready = new Promise<NodeStatus[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new HarnessError(`${names} not ready in ${timeout} ms (log: ${this.log.path})`)) }, timeout)
      this.child.on('message', (reply: Reply) => {
        if (reply.kind === 'ready') { clearTimeout(timer); resolve(reply.statuses) }
        if (reply.kind === 'result') this.settle(reply)
        else onReply(reply)
      })
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new HarnessError(`${names} exited while starting (code ${code}, signal ${signal}; log: ${this.log.path})`))
      })
    })

    try {
      return await ready
    } catch (err) {
      this.child.kill('SIGKILL')
      throw err
    }
  }

  /** Send a command and resolve with its result; rejects after `timeout` ms or when the worker exits */
  async request<T> (cmd: DistributiveOmit<Command, 'id'>, timeout: number, where: string): Promise<T> {
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new HarnessError(`${cmd.cmd} at ${where}: no answer in ${timeout} ms`))
      }, timeout)
      this.pending.set(id, { resolve, reject, timer })
      this.child.send({ ...cmd, id })
    })
  }

  /** Whether the process has exited */
  get gone (): boolean {
    return this.child.exitCode != null || this.child.signalCode != null
  }

  /**
   * Tell the worker to stop its nodes and exit; SIGKILL after `grace` ms.
   *
   * @returns false when it had to be killed
   */
  async stop (grace: number): Promise<boolean> {
    try { this.child.send({ cmd: 'stop', id: nextId++ }) } catch {}
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([this.exited, new Promise<'timeout'>(resolve => { timer = setTimeout(() => { resolve('timeout') }, grace) })])
    clearTimeout(timer)

    if (code === 'timeout') {
      this.child.kill('SIGKILL')
      return false
    }

    return true
  }

  private settle (reply: Extract<Reply, { kind: 'result' }>): void {
    const p = this.pending.get(reply.id)
    if (p == null) return
    this.pending.delete(reply.id)
    clearTimeout(p.timer)
    if (reply.ok) p.resolve(reply.value)
    else p.reject(new HarnessError(reply.error))
  }
}
