/**
 * A harness worker process: hosts one or more nodes (argv[2] is the JSON of a
 * `WorkerInit`), reports their status over IPC every `statusInterval` ms and
 * each chat event as it happens, and runs the harness's commands.
 *
 * It exits when told to stop, on SIGTERM/SIGINT, or when the harness goes away
 * (IPC disconnect). An unhandled rejection or exception is reported as `fatal`
 * and written to stderr (the harness keeps it in the worker's log) before exit 1.
 */

import { NodeHost } from './node-host.js'
import type { Command, Reply, ResolvedSpec } from './protocol.js'

export interface WorkerInit {
  specs: ResolvedSpec[]
  statusInterval: number
}

const init: WorkerInit = JSON.parse(process.argv[2])
const hosts = new Map<string, NodeHost>()
const send = (reply: Reply): void => {
  if (process.connected) process.send?.(reply)
}

function fatal (kind: string, err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err)
  process.stderr.write(`FATAL ${kind}: ${text}\n`)
  send({ kind: 'fatal', error: `${kind}: ${text}` })
  process.exitCode = 1
  setTimeout(() => process.exit(1), 100).unref()
}
process.on('unhandledRejection', (err) => { fatal('unhandled rejection', err) })
process.on('uncaughtException', (err) => { fatal('uncaught exception', err) })

let stopping: Promise<void> | undefined
async function stopAll (): Promise<void> {
  stopping ??= (async () => {
    clearInterval(reporter)
    await Promise.allSettled([...hosts.values()].map(async h => h.stop()))
  })()
  return stopping
}
const exit = (): void => { void stopAll().finally(() => process.exit(process.exitCode ?? 0)) }
process.on('SIGTERM', exit)
process.on('SIGINT', exit)
process.on('disconnect', exit)

const statuses = (): ReturnType<NodeHost['status']>[] => [...hosts.values()].map(h => h.status())
const reporter = setInterval(() => { send({ kind: 'status', statuses: statuses() }) }, init.statusInterval)

function host (name: string): NodeHost {
  const h = hosts.get(name)
  if (h == null) throw new Error(`no node ${name} in this worker`)
  return h
}

async function run (msg: Command): Promise<unknown> {
  switch (msg.cmd) {
    case 'status': return statuses()
    case 'stop':
      if (msg.node != null) {
        await host(msg.node).stop()
        hosts.delete(msg.node)
        return undefined
      }
      await stopAll()
      setImmediate(() => process.exit(process.exitCode ?? 0))
      return undefined
    default: return host(msg.node).run(msg)
  }
}

process.on('message', (msg: Command) => {
  run(msg).then(
    value => { send({ kind: 'result', id: msg.id, ok: true, value }) },
    (err: Error) => { send({ kind: 'result', id: msg.id, ok: false, error: err.message ?? String(err) }) }
  )
})

try {
  for (const spec of init.specs) {
    hosts.set(spec.name, await NodeHost.start(spec, (event) => { send({ kind: 'event', event }) }))
  }
  send({ kind: 'ready', statuses: statuses() })
} catch (err) {
  fatal('start failed', err)
}
