import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** A soak/fuzz script run as `npm run` runs it (tsx on the project's Node) */
async function run (script: string, args: string[], timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, timeout, maxBuffer: 16 * 1024 * 1024 }, (err: any, stdout, stderr) => {
      resolve({ code: err == null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

/**
 * The plumbing of `npm run soak` and `npm run fuzz` (test/soak/): they start
 * their nodes, run, print their tables and clean up. Verdicts are not
 * asserted: they say which of issue 13's defences exist yet.
 */
describe('soak and fuzz runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-test-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('npm run soak -- --quick --only f,g prints a row per attack, writes the table, and leaves nothing behind', async () => {
    const out = join(dir, 'soak.md')
    const r = await run('test/soak/run.ts', ['--quick', '--duration', '3', '--only', 'f,g', '--out', out], 50_000)
    const context = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`

    // 0: every attack passed, 1: one did not; anything else is the run failing
    assert.ok(r.code === 0 || r.code === 1, context)
    assert.match(r.stdout, /^attack +RSS MB before\/peak\/after/m, context)
    assert.match(r.stdout, /^f\. honest DISC_GET_PEERS.* \d+ \/ \d+ \/ \d+ .*(pass|FAIL|ERROR)/m, context)
    assert.match(r.stdout, /^g\. web page.* \d+ \/ \d+ \/ \d+ .*(pass|FAIL|ERROR)/m, context)
    assert.doesNotMatch(r.stdout, /^[a-eh-j]\. /m, 'only the attacks asked for')

    const md = readFileSync(out, 'utf8')
    assert.match(md, /^\| attack \| RSS MB before\/peak\/after \|/m)
    assert.match(md, /^\| f\. /m)
    assert.match(md, /^\| g\. /m)

    const temp = /^temp dir (\S+)/m.exec(r.stdout)?.[1]
    assert.ok(temp != null && !existsSync(temp), `${temp} removed`)
  })

  it('npm run fuzz -- --frames 2000 sends them all and prints its checks', async () => {
    const r = await run('test/soak/fuzz.ts', ['--frames', '2000', '--seed', '7'], 50_000)
    const context = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`

    assert.ok(r.code === 0 || r.code === 1, context)
    assert.match(r.stdout, /^frames sent +2\d{3} of 2000 in \d+ s \(seed 7\) +ok$/m, context)

    for (const check of ['node up, no crash', 'no unhandled rejection', 'honest chat', 'honest transaction', 'RSS growth']) {
      assert.match(r.stdout, new RegExp(`^${check}.* (ok|FAIL)$`, 'm'), context)
    }
  })
})
