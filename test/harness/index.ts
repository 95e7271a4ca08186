/**
 * The multi-node harness for tests, benchmarks and chaos runs: see harness.ts.
 */
export { Harness, HarnessError } from './harness.js'
export type { Condition, HarnessInit, HarnessNode, NodeState } from './harness.js'
export type { FabricOptions, Libp2pLimits, NodeEvent, NodeSpec, NodeStatus, TxResult } from './protocol.js'
export { NodeHost, RAW_BENCH_PROTOCOL } from './node-host.js'
export { Netns, netnsSupport } from './netns.js'
export type { NetnsHost, NetnsOptions } from './netns.js'
export type { LedgerSummary } from './protocol.js'
