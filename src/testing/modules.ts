/**
 * Your own code in a node's process: an engine factory (`NodeSpec.engine`)
 * and plugins (`NodeSpec.plugins`), loaded from ES modules by a dynamic import
 * in the worker (or in the harness's process, inline).
 */

import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { DatastoreLedger, Engine, FabricPeer } from '../index.js'
import type { ModuleRef } from './protocol.js'
import type { ComponentLogger, Libp2p } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** What an engine factory gets besides its options: the node it runs in */
export interface EngineContext {
  /** The node's name in the harness */
  name: string
  validator: boolean
  /** The node's ledger (in its data directory, or in memory): the one its hellos report and `NodeStatus.height` reads */
  ledger: DatastoreLedger
  /** The node's datastore, shared with libp2p */
  datastore: Datastore
  /** Its data directory, when persistent */
  dataDir?: string
  logger: ComponentLogger
}

/**
 * What a `NodeSpec.engine` module exports: called once per start of the node,
 * before its libp2p node is created, with `ModuleRef.options`.
 *
 * @example
 * ```ts
 * // my-engine.ts
 * import type { EngineContext } from 'libp2p-fabric-peer/testing'
 * export default function myEngine (options: { quorum: number }, ctx: EngineContext): Engine {
 *   return new MyEngine(options.quorum, ctx.ledger)
 * }
 * ```
 */
export type EngineFactory<Options = any> = (options: Options, ctx: EngineContext) => Engine | Promise<Engine>

/** What a plugin factory gets: the engine context, the started libp2p node and the engine */
export interface PluginContext extends EngineContext {
  node: Libp2p<{ fabric: FabricPeer }>
  /** The engine the node runs, if any */
  engine?: Engine
}

/** What a plugin adds to a node */
export interface Plugin {
  /**
   * Commands the harness can run on the node: `harness.call(node, name, args)`
   * resolves with what the function returns. Arguments and results are JSON.
   */
  commands?: Record<string, (args: any) => unknown>
  /** Called when the node stops, before libp2p does */
  stop?(): void | Promise<void>
}

/**
 * What a `NodeSpec.plugins` module exports: called once the node has started,
 * with `ModuleRef.options`. A plugin may register protocols on `ctx.node`,
 * read the engine's state for a command, inject faults…
 */
export type PluginFactory<Options = any> = (options: Options, ctx: PluginContext) => Plugin | Promise<Plugin>

/** The module as a file URL, so a spec carries one string to any process */
export function moduleUrl (module: string | URL): string {
  if (module instanceof URL) return module.href
  if (module.startsWith('file:')) return module
  if (isAbsolute(module)) return pathToFileURL(module).href
  throw new TypeError(`module ${JSON.stringify(module)}: give an absolute path or a file URL, e.g. new URL('./engine.ts', import.meta.url)`)
}

/** A module that needs a TypeScript loader (tsx) to import */
export function isTypeScript (module: string | URL): boolean {
  return /\.[mc]?tsx?$/.test(new URL(moduleUrl(module)).pathname)
}

/** Import the module and return its factory */
export async function loadFactory<F extends (...args: any[]) => unknown> (ref: ModuleRef, what: string): Promise<F> {
  const url = moduleUrl(ref.module)
  const name = ref.export ?? 'default'
  const exports: Record<string, unknown> = await import(url)
  const factory = exports[name]
  if (typeof factory !== 'function') {
    throw new TypeError(`${what} ${url}: its export ${JSON.stringify(name)} is ${factory === undefined ? 'missing' : typeof factory}, not a factory function (exports: ${Object.keys(exports).join(', ') || 'none'})`)
  }
  return factory as F
}
