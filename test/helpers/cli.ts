import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = ['--import', 'tsx', 'src/cli/bin.ts']

/** The environment without any CORE_* of the developer's own, plus `env` */
function environment (env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CORE_')))
  return { ...clean, ...env }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run `fabric-peer ARGS` to its end, as a user would (tsx on the project's Node) */
export async function runCli (args: string[], env?: Record<string, string>, timeout = 30_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...BIN, ...args], { cwd: ROOT, env: environment(env), timeout }, (err: any, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

/** A long-lived `fabric-peer node start`, its output read line by line */
export class CliNode {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''

  constructor (args: string[], env?: Record<string, string>) {
    this.child = spawn(process.execPath, [...BIN, 'node', 'start', ...args], { cwd: ROOT, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk })
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
  }

  /** The first match of `pattern` in stdout, waiting up to `timeout` ms for it */
  async waitFor (pattern: RegExp, timeout = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeout

    for (;;) {
      const match = this.stdout.match(pattern)

      if (match != null) {
        return match
      }

      if (this.child.exitCode != null || Date.now() > deadline) {
        throw new Error(`${this.child.exitCode != null ? `node exited with ${this.child.exitCode}` : `timed out after ${timeout}ms`} waiting for ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)
      }

      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** What `node start` printed once ready: PeerId, first listen address, admin and metrics host:port */
  async ready (): Promise<{ peerId: string, address: string, admin: string, metrics?: string }> {
    await this.waitFor(/^ready/m)
    return {
      peerId: (await this.waitFor(/^PeerId: +(\S+)/m))[1],
      address: (await this.waitFor(/^listening: +(\S+)/m))[1],
      // empty when the admin API is off
      admin: this.stdout.match(/^admin: +http:\/\/(\S+)/m)?.[1] ?? '',
      metrics: this.stdout.match(/^metrics: +(http:\/\/\S+)/m)?.[1]
    }
  }

  /** Send `signal` and wait for the exit code (SIGKILL after `timeout`) */
  async stop (signal: NodeJS.Signals = 'SIGTERM', timeout = 15_000): Promise<number | null> {
    if (this.child.exitCode != null || this.child.signalCode != null) {
      return this.child.exitCode
    }

    const exited = once(this.child, 'exit')
    this.child.kill(signal)
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, timeout)

    try {
      const [code] = await exited
      return code
    } finally {
      clearTimeout(timer)
    }
  }
}

export interface RawAnswer {
  /** The status line, e.g. `HTTP/1.1 400 Bad Request`, or '' when none came */
  status: string
  text: string
  /** ms from connecting until the server closed the socket (or `timeout`) */
  elapsed: number
}

/**
 * Send `request` as is to `hostPort` (what a fetch would refuse to send) and
 * read until the server closes the connection, at most `timeout` ms
 */
export async function rawHttp (hostPort: string, request: string, timeout = 10_000): Promise<RawAnswer> {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))]
  const start = Date.now()

  return new Promise((resolve) => {
    const socket = connect(port, host)
    let text = ''
    const timer = setTimeout(() => { socket.destroy() }, timeout)
    socket.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ status: text.split('\r\n')[0], text, elapsed: Date.now() - start })
    })
    socket.write(request)
  })
}
