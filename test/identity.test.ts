import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openDataDir } from '../src/identity.js'
import { createNode } from './helpers/nodes.js'

describe('identity in the data directory', () => {
  const dirs: string[] = []
  after(async () => { await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true }))) })

  async function tempDir (): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'fabric-identity-'))
    dirs.push(dir)
    return dir
  }

  it('a restarted node with the same data directory keeps its PeerId and is reachable under it', async () => {
    const dir = join(await tempDir(), 'peer0')

    const first = await openDataDir(dir)
    const node = await createNode({ ...first })
    const peerId = node.peerId.toString()
    await node.stop()
    await first.datastore.close()

    const second = await openDataDir(dir)
    const restarted = await createNode({ ...second })
    const other = await createNode()

    try {
      assert.equal(restarted.peerId.toString(), peerId)
      const endpoint = await other.services.fabric.chatWithPeer(restarted.getMultiaddrs())
      assert.equal(endpoint.ID?.name, peerId)
    } finally {
      await restarted.stop()
      await other.stop()
      await second.datastore.close()
    }
  })

  it('different data directories give different identities', async () => {
    const [a, b] = await Promise.all([openDataDir(await tempDir()), openDataDir(await tempDir())])
    assert.notEqual(a.privateKey.publicKey.toString(), b.privateKey.publicKey.toString())
    await Promise.all([a.datastore.close(), b.datastore.close()])
  })
})
