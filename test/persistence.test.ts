import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { openDataDir } from '../src/identity.js'
import { DISCOVERY_LIST_KEY, PeerEndpoint, PeersAddresses } from '../src/index.js'
import { createNode, waitFor } from './helpers/nodes.js'
import type { FabricNode } from './helpers/nodes.js'
import type { DataDir } from '../src/identity.js'

const LIST = new Key(DISCOVERY_LIST_KEY)

async function someAddresses (count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) =>
    `/ip4/127.0.0.1/tcp/${1000 + i}/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`))
}

/** A datastore that counts writes to the discovery list key */
function countingDatastore (): { datastore: MemoryDatastore, writes: () => number } {
  const datastore = new MemoryDatastore()
  let writes = 0
  const put = datastore.put.bind(datastore)
  datastore.put = async (key, value, options) => {
    if (key.toString() === LIST.toString()) writes++
    return put(key, value, options)
  }
  return { datastore, writes: () => writes }
}

const dirs: string[] = []
const nodes: FabricNode[] = []
const stores: DataDir[] = []

afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async n => n.stop()))
  await Promise.all(stores.splice(0).map(async s => s.datastore.close()))
})

after(async () => {
  await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
})

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fabric-persist-'))
  dirs.push(dir)
  return dir
}

describe('persisted discovery list', () => {
  it('changes are written together, not once per change, and read back at start', async () => {
    const { datastore, writes } = countingDatastore()
    const node = await createNode({ datastore, fabric: { persistDelay: 200, touchPeriod: 0 } })
    nodes.push(node)
    const addresses = await someAddresses(50)

    for (const a of addresses) node.services.fabric.discovery.addNode(a)
    await waitFor(() => writes() > 0, 'the first write')
    await new Promise(resolve => setTimeout(resolve, 300))

    assert.equal(writes(), 1, '50 changes in one burst make one write')
    assert.deepEqual((await node.services.fabric.loadDiscoveryList()).sort(), [...addresses].sort())

    // a restarted node on the same datastore starts with the list
    await node.stop()
    const again = await createNode({ datastore, fabric: { touchPeriod: 0 } })
    nodes.push(again)
    assert.deepEqual(again.services.fabric.discovery.getAllNodes().sort(), [...addresses].sort())
  })

  it('a steady stream of changes is still written while it goes on', async () => {
    const { datastore, writes } = countingDatastore()
    const node = await createNode({ datastore, fabric: { persistDelay: 100, touchPeriod: 0 } })
    nodes.push(node)
    const addresses = await someAddresses(40)

    // one change every 20 ms for 800 ms: a debounce would postpone the write to the end
    for (const a of addresses) {
      node.services.fabric.discovery.addNode(a)
      await new Promise(resolve => setTimeout(resolve, 20))
    }

    assert.ok(writes() >= 5, `only ${writes()} writes during 800 ms of changes`)
  })

  it('persist: false writes nothing, even at stop', async () => {
    const { datastore, writes } = countingDatastore()
    const node = await createNode({ datastore, fabric: { persist: false, persistDelay: 10, touchPeriod: 0 } })
    nodes.push(node)
    for (const a of await someAddresses(5)) node.services.fabric.discovery.addNode(a)
    await new Promise(resolve => setTimeout(resolve, 100))
    await node.stop()

    assert.equal(writes(), 0)
    assert.equal(await datastore.has(LIST), false)
  })

  it('nothing is written after stop, when the datastore may already be closed', async () => {
    const { datastore, writes } = countingDatastore()
    const node = await createNode({ datastore, fabric: { persistDelay: 10, touchPeriod: 0 } })
    nodes.push(node)
    const [a, b] = await someAddresses(2)
    node.services.fabric.discovery.addNode(a)
    await node.stop()
    const afterStop = writes()

    node.services.fabric.discovery.addNode(b)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(writes(), afterStop)
    assert.ok(afterStop >= 1, 'the change before stop was written')
  })

  it('a corrupt list is ignored: the node starts with its root nodes', async () => {
    const datastore = new MemoryDatastore()
    await datastore.put(LIST, Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0x01))
    const [root] = await someAddresses(1)

    const node = await createNode({ datastore, fabric: { rootNodes: [root], touchPeriod: 0 } })
    nodes.push(node)

    assert.deepEqual(node.services.fabric.discovery.getAllNodes(), [root])
    assert.deepEqual(await node.services.fabric.loadDiscoveryList(), [])
  })

  it('a node killed with SIGKILL in the middle of changes restarts with a readable list', async () => {
    for (let round = 0; round < 3; round++) {
      const dir = join(await tempDir(), 'peer')
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/discovery-writer.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
      const exited = new Promise(resolve => child.once('exit', resolve))

      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => { reject(new Error('the child never stored its list')) }, 30_000)
          child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('stored')) { clearTimeout(timer); resolve() } })
        })
        // let it run a while longer: it is writing every few milliseconds when it dies
        await new Promise(resolve => setTimeout(resolve, 100 + round * 150))
      } finally {
        child.kill('SIGKILL')
        await exited
      }

      const store = await openDataDir(dir)
      stores.push(store)
      const list = PeersAddresses.decode(await store.datastore.get(LIST))
      assert.ok(list.addresses.length > 0, `round ${round}: empty list`)

      const node = await createNode({ ...store, fabric: { touchPeriod: 0 } })
      nodes.push(node)
      // every node of the record, and perhaps more: the peer store (written
      // per node) may be ahead of the record (written after PERSIST_DELAY)
      for (const address of list.addresses) assert.ok(node.services.fabric.discovery.findNode(address), `round ${round}: ${address}`)
      assert.ok(node.services.fabric.discovery.size >= new Set(list.addresses).size, `round ${round}`)
      await node.stop()
      await store.datastore.close()
      stores.pop()
    }
  })

  it('a validator restarted with its data directory rejoins every live validator from its persisted list alone', async () => {
    const fast = { discoveryPeriod: 200, touchPeriod: 300, dialBackoffInitial: 300, persistDelay: 100 }
    const data = await Promise.all([0, 1, 2, 3].map(async () => openDataDir(join(await tempDir(), 'v'))))
    stores.push(...data)

    const root = await createNode({ ...data[0], fabric: fast })
    const rootAddr = root.getMultiaddrs()[0].toString()
    const rest = await Promise.all([1, 2, 3].map(async i => createNode({ ...data[i], fabric: { ...fast, rootNodes: [rootAddr] } })))
    const all = [root, ...rest]
    nodes.push(...all)
    await waitFor(() => all.every(n => n.services.fabric.getPeers().peers.length === 3), 'a full mesh of 4', 20_000)

    // v3 goes away, then the root node
    const v3 = rest[2]
    const v3Id = v3.peerId.toString()
    await v3.stop()
    await root.stop()
    const persisted = await v3.services.fabric.loadDiscoveryList()
    for (const v of [rest[0], rest[1]]) {
      assert.ok(persisted.some(a => a.endsWith(v.peerId.toString())), 'v3 persisted its peers')
    }

    // back with the same data directory; its only root node is down
    const restarted = await createNode({ ...data[3], fabric: { ...fast, rootNodes: [rootAddr] } })
    nodes.push(restarted)
    assert.equal(restarted.peerId.toString(), v3Id)
    assert.equal(restarted.services.fabric.discovery.get(rest[0].peerId)?.type, PeerEndpoint.Type.VALIDATOR, 'the peer store remembered roles')

    await waitFor(() => [rest[0], rest[1]].every(v => restarted.services.fabric.isEstablished(v.peerId)), 'v3 to rejoin v1 and v2', 10_000)
    assert.equal(restarted.services.fabric.isEstablished(root.peerId), false)
  })
})
