// npm run generate: protos/fabric.proto -> src/pb/fabric.ts with protons, then
// one change to its output: empty byte fields default to `new Uint8Array(0)`
// instead of `alloc(0)` from uint8arrays (a Buffer and a view of it for every
// empty field of every decoded message: a quarter of decoding a block).
//
//   node protos/generate.mjs [outDir]    (default src/pb)

import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const out = process.argv[2] ?? 'src/pb'
execFileSync(process.execPath, ['node_modules/protons/dist/bin/protons.js', '-s', '-o', out, 'protos/fabric.proto'], { stdio: 'inherit' })

const file = join(out, 'fabric.ts')
const generated = readFileSync(file, 'utf8')
const changed = generated
  .replace(/^import \{ alloc as uint8ArrayAlloc \} from 'uint8arrays\/alloc'\n/m, '')
  .replaceAll('uint8ArrayAlloc(0)', 'new Uint8Array(0)')

if (changed.includes('uint8ArrayAlloc')) {
  throw new Error(`${file}: protons used alloc() in a way generate.mjs does not know; update it`)
}

writeFileSync(file, changed)
