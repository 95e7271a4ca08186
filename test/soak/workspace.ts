/**
 * What a soak or fuzz run started and must undo, whatever happens: child
 * processes, temp directories. Undone in reverse order by `cleanup()`, on
 * SIGINT/SIGTERM too; a process that exits anyway SIGKILLs what is left and
 * removes the directories synchronously.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'

/** How long a child gets after SIGTERM before SIGKILL */
const STOP_GRACE = 15_000

export class Workspace {
  /** The run's own temp directory: every data directory lives under it */
  readonly dir: string
  private readonly children = new Set<ChildProcess>()
  private readonly undo: Array<() => Promise<void>> = []
  private cleaning?: Promise<void>

  constructor (prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
    process.on('exit', () => { this.cleanupNow() })
  }

  /** A child process to stop at the end (SIGTERM, then SIGKILL) */
  child (child: ChildProcess): ChildProcess {
    this.children.add(child)
    child.once('exit', () => { this.children.delete(child) })
    return child
  }

  /** Something else to undo at the end (stopping an in-process libp2p node) */
  defer (fn: () => Promise<void>): void {
    this.undo.push(fn)
  }

  /** Stop everything and remove the temp directory; safe to call more than once */
  async cleanup (): Promise<void> {
    this.cleaning ??= (async () => {
      for (const fn of this.undo.reverse()) {
        await fn().catch(() => {})
      }

      await Promise.all([...this.children].map(async child => stopChild(child)))
      rmSync(this.dir, { recursive: true, force: true })
    })()
    await this.cleaning
  }

  /** On SIGINT/SIGTERM: say so, clean up, exit 130 (a second signal exits at once) */
  exitOnSignals (say: (line: string) => void): void {
    let caught = false

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (caught) {
          process.exit(130)
        }

        caught = true
        say(`\n${signal}: stopping every node and removing ${this.dir}`)
        const force = setTimeout(() => { process.exit(130) }, STOP_GRACE + 5_000)
        void this.cleanup().finally(() => {
          clearTimeout(force)
          process.exit(130)
        })
      })
    }
  }

  /** Last resort at process exit: no waiting is possible any more */
  private cleanupNow (): void {
    for (const child of this.children) {
      child.kill('SIGKILL')
    }

    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** SIGTERM, and SIGKILL if it has not exited within STOP_GRACE */
export async function stopChild (child: ChildProcess, grace = STOP_GRACE): Promise<void> {
  if (child.exitCode != null || child.signalCode != null) {
    return
  }

  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, grace)
  await exited
  clearTimeout(timer)
}
