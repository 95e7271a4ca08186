import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import { createNode } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'

/** The `warning` messages a node emits while it starts */
async function warningsAtStart (node: FabricNode): Promise<string[]> {
  const warnings: string[] = []
  node.services.fabric.addEventListener('warning', (evt) => { warnings.push(evt.detail.message) })
  await node.start()
  await node.stop()
  return warnings
}

describe('persist on an in-memory datastore', () => {
  it('warns once at start that the discovery list will not survive a restart', async () => {
    const warnings = await warningsAtStart(await createNode({ start: false }))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], /datastore is in memory .*will not survive a restart/)
  })

  it('says nothing with persist off, or on a LevelDB datastore', async () => {
    assert.deepEqual(await warningsAtStart(await createNode({ start: false, fabric: { persist: false } })), [])

    const dir = await mkdtemp(join(tmpdir(), 'fabric-persist-'))
    const datastore = new LevelDatastore(dir)
    await datastore.open()

    try {
      assert.deepEqual(await warningsAtStart(await createNode({ start: false, datastore })), [])
    } finally {
      await datastore.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
