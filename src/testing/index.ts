/**
 * @packageDocumentation
 *
 * A multi-node harness for fabric networks: start N peers, each in its own
 * process (or several per process, or all in this one), with roles, root
 * nodes, LevelDB data directories, libp2p limits and the engine you are
 * writing; wait for the topology the roles call for; submit transactions and
 * time them; SIGKILL a peer and restart it on the same identity, data
 * directory and port; collect chat events with wall-clock times from every
 * process. The project's own tests, benchmarks and chaos runs use it.
 *
 * Your engine runs in the worker processes from its own ES module:
 * `engine: { module, export, options }` names a factory
 * `(options, ctx) => Engine` (see `EngineFactory`). Plugins
 * (`NodeSpec.plugins`, see `PluginFactory`) add commands you run with
 * `harness.call()`. A `.ts` module loads when your script runs under tsx.
 *
 * @example
 *
 * ```ts
 * import { Harness, percentile } from 'libp2p-fabric-peer/testing'
 *
 * const engine = { module: new URL('./my-engine.js', import.meta.url), options: { quorum: 3 } }
 * const h = await Harness.create({ progress: true })
 * try {
 *   await h.start([
 *     { name: 'vp0', root: true, engine },
 *     ...['vp1', 'vp2', 'vp3'].map(name => ({ name, engine })),
 *     { name: 'nvp0', validator: false }
 *   ])
 *   await h.waitFor(h.topology(), 30_000)
 *
 *   const ms: number[] = []
 *   for (let i = 0; i < 100; i++) ms.push((await h.submit('nvp0', `tx-${i}`)).ms)
 *   console.info('median %d ms, p99 %d ms', percentile(ms, 0.5), percentile(ms, 0.99))
 *
 *   await h.kill('vp3')        // SIGKILL
 *   await h.restart('vp3')     // same PeerId, data directory and port
 *   console.info('back in %d ms', await h.waitFor(h.topology(), 30_000))
 * } finally {
 *   await h.close()
 * }
 * ```
 */

export { Harness, HarnessError } from './harness.js'
export type { HarnessInit, HarnessNode, NodeState, Placement } from './harness.js'
export { fullMesh, nonValidatorsConnected, topology } from './conditions.js'
export type { Condition } from './conditions.js'
export type { EngineContext, EngineFactory, Plugin, PluginContext, PluginFactory } from './modules.js'
export type { FabricOptions, LedgerSummary, Libp2pLimits, ModuleRef, NodeEvent, NodeSpec, NodeStatus, ResolvedSpec, TxResult } from './protocol.js'

/**
 * The value below which a share `p` (0..1) of the samples fall: the sample at
 * rank ⌊p·n⌋ of the sorted samples (NaN for none).
 */
export function percentile (samples: number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
