#!/usr/bin/env node
/**
 * The `fabric-peer` executable: checks the Node version before anything that
 * needs a newer one is loaded, catches `node start`'s stop signals from the
 * first moment, then runs the command line (`main.ts`).
 */

import { catchStopSignals } from './signals.js'

/** libp2p 3 needs Node 22: under 20 a node starts, but every connection fails */
const MIN_NODE_MAJOR = 22

const major = Number(process.versions.node.split('.')[0])

if (major < MIN_NODE_MAJOR) {
  process.stderr.write(`fabric-peer: needs Node.js ${MIN_NODE_MAJOR} or newer (libp2p 3 does), this is v${process.versions.node}\n`)
  process.exit(1)
}

// the command words come first (main.ts refuses options before them)
if (process.argv[2] === 'node' && process.argv[3] === 'start') {
  catchStopSignals()
}

import('./main.js').catch((err: Error) => {
  process.stderr.write(`fabric-peer: cannot load: ${err.message}\n`)
  process.exit(1)
})
