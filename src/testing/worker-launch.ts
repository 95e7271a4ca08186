/**
 * How a worker process is started.
 *
 * From the compiled package (`dist/`) the worker is JavaScript and is forked
 * as it is. From this repository's sources (tests, examples and benchmarks run
 * under tsx) it is bundled once with esbuild, a devDependency loaded only
 * then, into a plain ESM file beside node_modules: such a worker starts in
 * ~0.5 s instead of ~1.5 s under tsx.
 *
 * A node that loads modules of its own (an engine, plugins) needs its worker
 * and those modules to share one copy of the library (one `Message`, one
 * `SendQueueFullError` class), and a `.ts` module needs a TypeScript loader:
 * from sources, such a worker runs `worker.ts` itself under the tsx loader
 * this process runs under; from `dist/`, `worker.js` gets that loader only
 * when a module is `.ts`.
 */

import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isTypeScript } from './modules.js'
import type { ModuleRef, ResolvedSpec } from './protocol.js'

export interface WorkerLaunch {
  /** The worker's entry file */
  script: string
  /** Node flags it needs (a TypeScript loader), before the harness's `nodeOptions` */
  execArgv: string[]
}

const SELF = fileURLToPath(import.meta.url)
const HERE = dirname(SELF)
const FROM_SOURCE = SELF.endsWith('.ts')
let bundle: Promise<string> | undefined

/** The command line of a worker that runs these nodes */
export async function workerLaunch (specs: ResolvedSpec[]): Promise<WorkerLaunch> {
  const modules = specs.flatMap(moduleRefs)
  if (FROM_SOURCE) {
    if (modules.length > 0) return { script: join(HERE, 'worker.ts'), execArgv: typeScriptLoader() }
    bundle ??= bundleWorker()
    return { script: await bundle, execArgv: [] }
  }
  return { script: join(HERE, 'worker.js'), execArgv: modules.some(m => isTypeScript(m.module)) ? typeScriptLoader() : [] }
}

function moduleRefs (spec: ResolvedSpec): ModuleRef[] {
  return [...(typeof spec.engine === 'object' ? [spec.engine] : []), ...(spec.plugins ?? [])]
}

/**
 * The tsx flags this process runs with (`node --import tsx`, or the tsx
 * command's `--import file:///…/tsx/dist/loader.mjs`), or `--import tsx`
 * resolved from the working directory. None when NODE_OPTIONS already loads
 * it: the worker inherits the environment.
 */
function typeScriptLoader (): string[] {
  if (/tsx/.test(process.env.NODE_OPTIONS ?? '')) return []
  const argv = process.execArgv
  const flags: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (['--import', '--loader', '--experimental-loader'].includes(argv[i]) && /tsx/.test(argv[i + 1] ?? '')) {
      flags.push(argv[i], argv[i + 1])
      i++
    } else if (/^--(import|loader|experimental-loader)=.*tsx/.test(argv[i])) {
      flags.push(argv[i])
    }
  }
  return flags.length > 0 ? flags : ['--import', 'tsx']
}

/** Compile the worker into one ESM file (imports of packages stay external), named by its content */
async function bundleWorker (): Promise<string> {
  const { build } = await import('esbuild')
  const out = join(resolve(HERE, '../..'), 'node_modules', '.cache', 'fabric-harness')
  await mkdir(out, { recursive: true })
  const result = await build({
    entryPoints: [join(HERE, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    write: false,
    outdir: out,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0].contents
  const file = join(out, `worker-${createHash('sha256').update(code).digest('hex').slice(0, 12)}.mjs`)
  if (!existsSync(file)) await writeFile(file, code)
  return file
}
