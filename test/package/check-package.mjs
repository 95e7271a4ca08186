#!/usr/bin/env node
/**
 * npm run check:package - what a registry user gets, checked the way they
 * would meet it: `npm pack` (which builds, through prepack), the tarball's
 * contents, an install into an empty project, an import, a strict
 * TypeScript consumer type-checked against the installed types, and the
 * `fabric-peer` bin from the install. Everything happens in a temporary
 * directory that is removed at the end. Exits 1 if any step fails.
 */

import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
const work = await mkdtemp(join(tmpdir(), 'fabric-package-'))
const consumer = join(work, 'consumer')
const started = Date.now()
const rows = []
let failed = false

/** Run one step, print its line as it ends, and remember it for the table */
async function step (name, fn) {
  const at = Date.now()
  process.stdout.write(`  ${name} ...\n`)

  try {
    const detail = await fn()
    rows.push([name, 'ok', detail ?? '', Date.now() - at])
  } catch (err) {
    failed = true
    const message = [err.stdout?.toString(), err.stderr?.toString(), err.message].filter(Boolean).join('\n').trim().split('\n').slice(0, 8).join('\n    ')
    rows.push([name, 'FAILED', message, Date.now() - at])
  }

  const [, status, detail, ms] = rows[rows.length - 1]
  process.stdout.write(`  ${name}: ${status} (${(ms / 1000).toFixed(1)} s)${detail === '' ? '' : ` - ${detail}`}\n`)
}

const env = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' }
let tarball = ''

process.stdout.write(`checking the package ${pkg.name}@${pkg.version} as a registry user gets it (in ${work})\n`)

await step('npm pack (prepack builds dist/)', async () => {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 })
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('[')))
  tarball = join(work, info.filename)
  const files = info.files.map(f => f.path)
  const needed = ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/identity.js', 'dist/src/testing/index.js', pkg.bin['fabric-peer'].replace(/^\.\//, ''), 'LICENSE', 'README.md', 'package.json']
  const missing = needed.filter(f => !files.includes(f))

  if (missing.length > 0) {
    throw new Error(`the tarball lacks ${missing.join(', ')}`)
  }

  return `${files.length} files, ${(info.size / 1024).toFixed(0)} KiB`
})

await step('npm install the tarball into an empty project', async () => {
  await run('mkdir', ['-p', consumer])
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2))
  // @types/node as a Node project has it (what the consumer's compiler sees of Node)
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, '@types/node@24'], { cwd: consumer, env, maxBuffer: 64 * 1024 * 1024 })
  const installed = JSON.parse(await readFile(join(consumer, 'node_modules', pkg.name, 'package.json'), 'utf8'))
  return `${installed.name}@${installed.version}`
})

await step('import it (every export)', async () => {
  const script = `
    const main = await import('${pkg.name}')
    const identity = await import('${pkg.name}/identity')
    const testing = await import('${pkg.name}/testing')
    if (typeof main.fabricPeer !== 'function') throw new Error('no fabricPeer export')
    if (typeof identity.openDataDir !== 'function') throw new Error('no openDataDir export')
    if (typeof testing.Harness !== 'function') throw new Error('no Harness export')
    console.log(Object.keys(main).length + ' exports')
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer, env })
  return stdout.trim()
})

await step('type-check a strict TypeScript consumer', async () => {
  await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['esnext', 'dom'], skipLibCheck: false, types: ['node'] },
    files: ['consumer.ts']
  }, null, 2))
  await writeFile(join(consumer, 'consumer.ts'), `
import { createLibp2p } from 'libp2p'
import { fabricPeer, PeerEndpoint } from '${pkg.name}'
import type { FabricPeer } from '${pkg.name}'
import { openDataDir } from '${pkg.name}/identity'

export async function start (dir: string): Promise<PeerEndpoint.Type> {
  const { datastore, privateKey } = await openDataDir(dir)
  const node = await createLibp2p({ datastore, privateKey, services: { fabric: fabricPeer({ validator: true }) } })
  const fabric: FabricPeer = node.services.fabric
  const type: PeerEndpoint.Type = fabric.getPeerEndpoint().type
  await node.stop()
  return type
}
`)
  // the project's own compiler, against the installed package's types
  await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], { cwd: consumer, env })
})

await step('run the installed fabric-peer bin: --version', async () => {
  const { stdout } = await run(process.execPath, [join(consumer, 'node_modules', '.bin', 'fabric-peer'), '--version'], { cwd: consumer, env })

  if (!stdout.startsWith(`fabric-peer ${pkg.version} `)) {
    throw new Error(`--version printed ${JSON.stringify(stdout)}`)
  }

  return stdout.trim()
})

await rm(work, { recursive: true, force: true })

const widths = [0, 1].map(i => Math.max(...rows.map(r => r[i].length), i === 0 ? 4 : 6))
process.stdout.write(`\n${'step'.padEnd(widths[0])}  ${'result'.padEnd(widths[1])}  seconds\n${'-'.repeat(widths[0])}  ${'-'.repeat(widths[1])}  -------\n`)
for (const [name, status, , ms] of rows) process.stdout.write(`${name.padEnd(widths[0])}  ${status.padEnd(widths[1])}  ${(ms / 1000).toFixed(1)}\n`)
process.stdout.write(`\npackage check ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
process.exit(failed ? 1 : 0)
