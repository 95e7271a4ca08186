import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, describe, it } from 'node:test'

const run = promisify(execFile)
const dirs: string[] = []
after(async () => { await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true }))) })

/** Run an example as `npm start` / `npm run` would: tsx on the project's Node */
async function example (file: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', file, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

describe('examples run as the README says', () => {
  it('npm start: the local network story converges, orders transactions, and rejoins a killed validator that catches up what it missed', async () => {
    const data = await mkdtemp(join(tmpdir(), 'fabric-network-'))
    dirs.push(data)
    const out = await example('examples/local-network.ts', ['--validators', '3', '--non-validators', '1', '--transactions', '3', '--missed', '20', '--data', join(data, 'net')])

    assert.match(out, /converged in [\d.]+s/)
    assert.match(out, /3 transactions in [\d.]+s: every validator at height 3, same head block/)
    assert.match(out, /20 transactions while vp2 was down: the live validators at height 23/)
    assert.match(out, /vp2 rejoined in [\d.]+s \(same PeerId, ledger height \d+\)/)
    assert.match(out, /vp2 caught up the 20 blocks it missed, [\d.]+s after its restart.*same head block/)
    assert.match(out, /All peers stopped cleanly/)
  })

  it('npm run example:bench-engine: a custom engine on 8 peer processes, timed', async () => {
    const out = await example('examples/bench-engine.ts', ['--transactions', '100'])

    assert.match(out, /100 at nvp0 and nvp1, 8 in flight: 100 SUCCESS, 0 FAILURE/)
    assert.match(out, /latency median +[\d.]+ ms/)
    assert.match(out, /latency p99 +[\d.]+ ms/)
    assert.match(out, /throughput +\d+ tx\/s/)
    assert.match(out, /kill -9 \+ restart +vp5 listening again [\d.]+ s after SIGKILL, back in the topology [\d.]+ s later/)
  })

  it('the short examples run to the end', async () => {
    assert.match(await example('examples/compose-node.ts'), /alice: CONSENSUS from .*hello from a composed node/)
    assert.match(await example('examples/custom-engine.ts'), /transaction at val2: SUCCESS - val2 has seen 2 votes/)
    assert.match(await example('examples/submit-transaction.ts'), /-> SUCCESS: transaction tx-\d+ is block 0/)
  })
})
