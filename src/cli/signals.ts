/**
 * SIGINT/SIGTERM for `node start`, caught from the moment the bin runs: a
 * signal while the node starts (modules loading, the data directory opening,
 * libp2p starting) is remembered, and the node stops as soon as it runs, so
 * its data directory is always closed cleanly. A second signal exits at once.
 *
 * No imports: the bin installs this before it loads anything else.
 */

export type StopHandler = (signal: NodeJS.Signals) => void

let caught = false
let pending: NodeJS.Signals | undefined
let stop: StopHandler | undefined

/** Catch SIGINT and SIGTERM from now on; until the node runs, a signal is remembered */
export function catchStopSignals (): void {
  if (caught) {
    return
  }

  caught = true

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop != null) {
      stop(signal)
      return
    }

    if (pending != null) {
      process.stderr.write(`${signal} again: exiting before the node has started\n`)
      process.exit(1)
    }

    pending = signal
    process.stdout.write(`${signal}: stopping as soon as the node has started\n`)
  }

  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** The node runs: a signal now calls `handler`, at once for one that came while it started */
export function onStopSignal (handler: StopHandler): void {
  catchStopSignals()
  stop = handler

  if (pending != null) {
    handler(pending)
  }
}

/** Whether a running node waits for a signal, so the process must outlive its command */
export function awaitingStopSignal (): boolean {
  return stop != null
}
