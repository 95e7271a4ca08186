import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import { printable } from '../src/cli/printable.js'
import { DISCOVERY_LIST_KEY } from '../src/index.js'
import { openDataDir } from '../src/identity.js'
import { CliNode, rawHttp, runCli } from './helpers/cli.js'
import { createRawNode } from './helpers/nodes.js'
import type { Socket } from 'node:net'

describe('fabric-peer CLI: two nodes, one from core.yaml and one from CORE_* env', () => {
  let dir: string
  let vp0: CliNode | undefined
  let nvp0: CliNode | undefined
  let a: Awaited<ReturnType<CliNode['ready']>>
  let b: Awaited<ReturnType<CliNode['ready']>>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fabric-cli-'))
    const coreYaml = join(dir, 'core.yaml')
    await writeFile(coreYaml, `# vp0: a validator, configured the Fabric way
peer:
  fileSystemPath: ${join(dir, 'vp0')}
  listenAddress: /ip4/127.0.0.1/tcp/0
  admin:
    address: 127.0.0.1:0
  metrics:
    address: 127.0.0.1:0
  validator:
    enabled: true
  discovery:
    period: 1s
    touchPeriod: 1s
security:
  enabled: false
`)
    vp0 = new CliNode(['--config', coreYaml])
    a = await vp0.ready()

    // the non-validator has no file: everything from the environment, as in a container
    nvp0 = new CliNode([], {
      CORE_PEER_FILESYSTEMPATH: join(dir, 'nvp0'),
      CORE_PEER_LISTENADDRESS: '/ip4/127.0.0.1/tcp/0',
      CORE_PEER_ADMIN_ADDRESS: '127.0.0.1:0',
      CORE_PEER_VALIDATOR_ENABLED: 'false',
      CORE_PEER_DISCOVERY_ROOTNODE: a.address,
      CORE_PEER_DISCOVERY_PERIOD: '1s',
      CORE_PEER_DISCOVERY_TOUCHPERIOD: '1s'
    })
    b = await nvp0.ready()
    await nvp0.waitFor(new RegExp(`^\\+ chat with ${a.peerId} \\(validator, outbound\\)`, 'm'))
    await vp0.waitFor(new RegExp(`^\\+ chat with ${b.peerId} \\(non-validator, inbound\\)`, 'm'))
  })

  after(async () => {
    await Promise.all([vp0?.stop('SIGKILL'), nvp0?.stop('SIGKILL')])
    await rm(dir, { recursive: true, force: true })
  })

  it('node start prints its PeerId, a dialable address and the bound admin port', () => {
    assert.match(a.peerId, /^12D3KooW/)
    assert.equal(a.address, `${a.address.split('/p2p/')[0]}/p2p/${a.peerId}`)
    assert.match(a.address, /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\//)
    assert.match(a.admin, /^127\.0\.0\.1:[1-9]\d*$/)
    assert.match(vp0?.stdout ?? '', /^fabric-peer node start: validator \(noops engine\)$/m)
    assert.match(nvp0?.stdout ?? '', /^fabric-peer node start: non-validator$/m)
    assert.match(nvp0?.stdout ?? '', new RegExp(`^root nodes: ${a.address}$`, 'm'))
  })

  it('network list shows each node the other, with its role and address', async () => {
    // the second asks by the address from the environment
    const [atA, atB] = await Promise.all([
      runCli(['network', 'list', '--admin', a.admin]),
      runCli(['network', 'list', '--json'], { CORE_PEER_ADMIN_ADDRESS: b.admin })
    ])
    assert.equal(atA.code, 0, atA.stderr)
    assert.match(atA.stdout, new RegExp(`^${a.peerId} \\(validator\\): 1 peer, \\d+ nodes? in discovery$`, 'm'))
    assert.match(atA.stdout, /^PeerId +Role +Address$/m)
    assert.match(atA.stdout, new RegExp(`^${b.peerId}  non-validator  ${b.address}$`, 'm'))

    assert.equal(atB.code, 0, atB.stderr)
    const answer = JSON.parse(atB.stdout)
    assert.equal(answer.self.id, b.peerId)
    assert.deepEqual(answer.peers, [{ id: a.peerId, address: a.address, type: 'VALIDATOR' }])
  })

  it('tx submit at the non-validator is forwarded to the validator and ordered; a query reads the state, a repeated txid is refused', async () => {
    const res = await runCli(['tx', 'submit', '--admin', b.admin, '--chaincode', 'mycc', '--payload', 'move 10 from a to b', '--txid', 'cli-tx-1'])

    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stdout, 'transaction cli-tx-1: SUCCESS - transaction cli-tx-1 is block 0\n')

    const again = await runCli(['tx', 'submit', '--admin', a.admin, '-n', 'mycc', '--txid', 'cli-tx-2', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(JSON.parse(again.stdout), { txid: 'cli-tx-2', status: 'SUCCESS', message: 'transaction cli-tx-2 is block 1' })

    // the reference chaincode: key=value invokes, queries read and append nothing, a txid is used once
    const set = await runCli(['tx', 'submit', '--admin', b.admin, '-n', 'mycc', '--payload', 'colour=blue', '--txid', 'cli-set'])
    assert.equal(set.stdout, 'transaction cli-set: SUCCESS - transaction cli-set is block 2\n', set.stderr)
    const query = await runCli(['tx', 'submit', '--admin', b.admin, '-n', 'mycc', '--type', 'query', '--payload', 'colour', '--txid', 'cli-query'])
    assert.equal(query.stdout, 'transaction cli-query: SUCCESS - blue\n', query.stderr)
    const twice = await runCli(['tx', 'submit', '--admin', a.admin, '-n', 'mycc', '--payload', 'colour=red', '--txid', 'cli-set'])
    assert.equal(twice.code, 1)
    assert.equal(twice.stdout, 'transaction cli-set: FAILURE - transaction cli-set is already in block 2: a txid is used once\n')
    const after = await runCli(['tx', 'submit', '--admin', a.admin, '-n', 'mycc', '--txid', 'cli-after'])
    assert.equal(after.stdout, 'transaction cli-after: SUCCESS - transaction cli-after is block 3\n', 'neither the query nor the repeated txid appended a block')
  })

  it('a request line that is no URL gets 400 from the metrics and admin ports, and the node stays up', async () => {
    const metrics = (a.metrics ?? '').replace(/^http:\/\/|\/metrics$/g, '')
    assert.match(metrics, /^127\.0\.0\.1:[1-9]\d*$/)

    for (const port of [metrics, a.admin]) {
      const answer = await rawHttp(port, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      assert.equal(answer.status, 'HTTP/1.1 400 Bad Request', answer.text)
      assert.match(answer.text, /bad request: .*is not a URL path/)
    }

    const list = await runCli(['network', 'list', '--admin', a.admin])
    assert.equal(list.code, 0, list.stderr)
    assert.equal(vp0?.child.exitCode, null, vp0?.stderr)
    assert.doesNotMatch(vp0?.stderr ?? '', /unexpected error/)
  })

  it('web pages are refused: a cross-site POST (Origin, text/plain), a rebound Host, a non-JSON POST; the CLI\'s own requests still work', async () => {
    const metrics = (a.metrics ?? '').replace(/^http:\/\/|\/metrics$/g, '')
    const adminPort = a.admin.split(':')[1]
    const body = JSON.stringify({ chaincode: 'evil', txid: 'csrf-tx' })
    const post = (headers: string): string => `POST /transactions HTTP/1.1\r\n${headers}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`

    // the form a page can send cross-site without a preflight: text/plain, with the page's Origin
    const csrf = await rawHttp(a.admin, post(`Host: 127.0.0.1:${adminPort}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n`))
    assert.equal(csrf.status, 'HTTP/1.1 403 Forbidden', csrf.text)
    assert.match(csrf.text, /Origin header/)
    assert.doesNotMatch(csrf.text, /SUCCESS/)

    // DNS rebinding: the page's own name resolving to 127.0.0.1
    for (const port of [metrics, a.admin]) {
      const path = port === metrics ? '/metrics' : '/peers'
      const rebound = await rawHttp(port, `GET ${path} HTTP/1.1\r\nHost: rebind.evil.example:${port.split(':')[1]}\r\nConnection: close\r\n\r\n`)
      assert.equal(rebound.status, 'HTTP/1.1 403 Forbidden', rebound.text)
      assert.match(rebound.text, /is not this server's address/)
    }

    const plain = await rawHttp(a.admin, post(`Host: 127.0.0.1:${adminPort}\r\nContent-Type: text/plain\r\n`))
    assert.equal(plain.status, 'HTTP/1.1 415 Unsupported Media Type', plain.text)

    for (const host of [`localhost:${adminPort}`, `127.0.0.1:${adminPort}`]) {
      const ok = await rawHttp(a.admin, `GET /peers HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      assert.equal(ok.status, 'HTTP/1.1 200 OK', ok.text)
    }

    const list = await runCli(['network', 'list', '--admin', a.admin, '--json'])
    assert.equal(list.code, 0, list.stderr)
    const submitted = await runCli(['tx', 'submit', '--admin', a.admin, '-n', 'mycc', '--txid', 'after-csrf', '--json'])
    assert.equal(submitted.code, 0, submitted.stderr)
    assert.equal(JSON.parse(submitted.stdout).status, 'SUCCESS')
  })

  it('sockets that never finish a handshake do not lock honest peers out', async () => {
    const [host, port] = a.address.split('/').filter((_, i) => i === 2 || i === 4)
    const silent: Socket[] = []
    try {
      // libp2p's defaults refuse every inbound connection once 10 are in their handshake;
      // bursts of 5 a second stay within its per-host rate, three of them make sure of 10
      for (const burst of [0, 1, 2]) {
        if (burst > 0) await new Promise(resolve => setTimeout(resolve, 1_100))
        for (let i = 0; i < 5; i++) silent.push(connect(Number(port), host).on('error', () => {}))
      }
      await new Promise(resolve => setTimeout(resolve, 1_100))

      const honest = await createRawNode()
      try {
        const connection = await honest.dial(multiaddr(a.address), { signal: AbortSignal.timeout(10_000) })
        assert.equal(connection.remotePeer.toString(), a.peerId)
      } finally {
        await honest.stop()
      }
    } finally {
      silent.forEach(s => s.destroy())
    }
  })

  it('a client slow to send its headers gets 408 within about 5 s', async () => {
    const answer = await rawHttp(a.admin, 'GET /peers HTTP/1.1\r\nHost: x\r\n', 9_000)

    assert.equal(answer.status, 'HTTP/1.1 408 Request Timeout', answer.text)
    assert.ok(answer.elapsed < 7_500, `answered after ${answer.elapsed}ms`)
  })

  it('--data on a file, or on a directory of something else, is one clear line, exit 1, and nothing written there', async () => {
    const file = join(dir, 'a-file')
    const foreign = join(dir, 'my-documents')
    await writeFile(file, 'not a directory')
    await mkdir(foreign)
    await writeFile(join(foreign, 'notes.txt'), 'mine')
    const [onFile, onForeign, onEmpty] = await Promise.all([
      runCli(['id', '--data', file]),
      runCli(['node', 'start', '--data', foreign, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', 'off']),
      runCli(['id', '--data', join(dir, 'new-node')])
    ])
    assert.equal(onFile.code, 1)
    assert.equal(onFile.stderr, `fabric-peer: data directory ${file} is a file, not a directory: give --data a directory (a new one is created)\n`)
    assert.equal(onForeign.code, 1)
    assert.equal(onForeign.stderr, `fabric-peer: data directory ${foreign} is not empty and holds no node's data (no LevelDB CURRENT file): give --data a new or empty directory, or a node's data directory\n`)
    assert.deepEqual(await readdir(foreign), ['notes.txt'])
    // a new directory, and then the node's own, are fine
    assert.equal(onEmpty.code, 0, onEmpty.stderr)
    assert.equal((await runCli(['id', '--data', join(dir, 'new-node')])).stdout, onEmpty.stdout)
  })

  it('busy data directories and ports, and a dead admin address, are one clear line and exit 1', async () => {
    const port = a.address.split('/')[4]
    const [busy, nobody, listenInUse, adminInUse] = await Promise.all([
      runCli(['id', '--data', join(dir, 'vp0')]),
      runCli(['network', 'list', '--admin', '127.0.0.1:1']),
      runCli(['node', 'start', '--data', join(dir, 'x1'), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--admin', '127.0.0.1:0']),
      runCli(['node', 'start', '--data', join(dir, 'x2'), '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', a.admin])
    ])
    assert.equal(listenInUse.code, 1)
    assert.equal(listenInUse.stderr, `fabric-peer: cannot start the node: cannot listen on /ip4/127.0.0.1/tcp/${port}: EADDRINUSE (address in use: another node? choose another --listen / peer.listenAddress port, or 0 for any free port)\n`)
    assert.equal(adminInUse.code, 1)
    assert.equal(adminInUse.stderr, `fabric-peer: admin API address ${a.admin} is in use (another node?): choose another one, or port 0 for any free port\n`)
    assert.equal(adminInUse.stdout, '')

    assert.equal(busy.code, 1)
    assert.match(busy.stderr, /^fabric-peer: data directory .*vp0 is in use by another process/)
    assert.equal(nobody.code, 1)
    assert.match(nobody.stderr, /^fabric-peer: no fabric-peer node answers at 127\.0\.0\.1:1/)
  })

  it('SIGTERM stops a node cleanly (exit 0), its chat closes on the peer, its identity stays in the data directory, and a FAILURE exits 1', async () => {
    const code = await vp0?.stop('SIGTERM')

    assert.equal(code, 0, vp0?.stderr)
    assert.match(vp0?.stdout ?? '', /^SIGTERM: stopping - closing 1 chat and saving the discovery list$/m)
    assert.match(vp0?.stdout ?? '', /^stopped cleanly \(1 node in the saved discovery list\)$/m)
    await nvp0?.waitFor(new RegExp(`^- chat with ${a.peerId} closed: disconnected by peer: peer is stopping`, 'm'))

    const [id, orphan] = await Promise.all([
      runCli(['id', '--data', join(dir, 'vp0')]),
      // the non-validator has no validator left to forward to
      runCli(['tx', 'submit', '--admin', b.admin, '--chaincode', 'mycc', '--txid', 'cli-tx-3'])
    ])
    assert.equal(id.code, 0, id.stderr)
    assert.equal(id.stdout, `${a.peerId}\n`)
    assert.equal(orphan.code, 1)
    assert.equal(orphan.stdout, 'transaction cli-tx-3: FAILURE - no validator is connected to forward the transaction to\n')
  })
})

describe('fabric-peer command line', () => {
  it('node start with Fabric\'s docker-compose environment runs, with one warning line per variable that does not apply', async () => {
    const data = join(await mkdtemp(join(tmpdir(), 'fabric-env-')), 'n')
    const node = new CliNode(['--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', 'off'], {
      CORE_PEER_ID: 'vp0', CORE_PEER_NETWORKID: 'dev', CORE_LOGGING_LEVEL: 'debug', CORE_VM_ENDPOINT: 'unix:///var/run/docker.sock', CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN: 'noops', CORE_PEER_ADDRESSAUTODETECT: 'true'
    })
    await node.waitFor(/ready \(Ctrl-C to stop\)/)
    assert.equal(await node.stop('SIGTERM'), 0, node.stderr)
    const warnings = node.stderr.split('\n').filter(line => line.startsWith('warning: '))
    assert.equal(warnings.length, 6, node.stderr)
    assert.ok(warnings.every(w => / does not apply here, ignored: /.test(w)))
  })

  it('a root node given as Fabric gave it, host:port without a PeerId, is dialed, its PeerId learned, and chatted with; a host:port listen address listens', async () => {
    const base = await mkdtemp(join(tmpdir(), 'fabric-hostport-'))
    const root = new CliNode(['--data', join(base, 'vp0'), '--listen', '127.0.0.1:0', '--admin', 'off'])
    const [, rootId, port] = await root.waitFor(/^listening: {2}\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/(\S+)$/m).then(m => [m[0], m[1], m[0].split('/')[4]])
    const peer = new CliNode(['--data', join(base, 'vp1'), '--listen', '127.0.0.1:0', '--admin', 'off', '--root-node', `127.0.0.1:${port}`])

    try {
      await peer.waitFor(new RegExp(`^root node /ip4/127\\.0\\.0\\.1/tcp/${port} is ${rootId}$`, 'm'))
      await peer.waitFor(new RegExp(`^\\+ chat with ${rootId} \\(validator, outbound\\)`, 'm'))
      await root.waitFor(/^\+ chat with \S+ \(validator, inbound\)/m)
    } finally {
      await Promise.all([root.stop('SIGTERM'), peer.stop('SIGTERM')])
    }
  })

  it('under npm run fabric-peer, SIGTERM to npm (what a supervisor sends) stops the node cleanly: nothing left running, the data directory free', async () => {
    const data = join(await mkdtemp(join(tmpdir(), 'fabric-npm-')), 'n')
    const npm = spawn('npm', ['run', '-s', 'fabric-peer', '--', 'node', 'start', '--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', 'off'], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    npm.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>(resolve => npm.once('exit', resolve))
    const deadline = Date.now() + 30_000
    while (!out.includes('ready (Ctrl-C to stop)') && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    assert.match(out, /ready \(Ctrl-C to stop\)/)

    npm.kill('SIGTERM')
    await exited
    const after = Date.now() + 10_000
    while (!out.includes('stopped cleanly') && Date.now() < after) await new Promise(resolve => setTimeout(resolve, 50))
    assert.match(out, /^SIGTERM: stopping/m)
    assert.match(out, /^stopped cleanly/m)
    // nobody holds the data directory: the node itself is gone, not orphaned
    const id = await runCli(['id', '--data', data])
    assert.equal(id.code, 0, id.stderr)
  })

  it('options before the command are refused with the command line reordered, and -h or --help first shows the top-level help', async () => {
    const [configFirst, helpFirst, help, optionOnly] = await Promise.all([
      runCli(['--config', 'my core.yaml', 'node', 'start']),
      runCli(['-h', 'node']),
      runCli(['--help']),
      runCli(['--json'])
    ])

    assert.equal(configFirst.code, 1)
    assert.equal(configFirst.stderr, 'fabric-peer: options go after the command: fabric-peer node start --config \'my core.yaml\'\n')
    assert.equal(helpFirst.code, 0, helpFirst.stderr)
    assert.match(helpFirst.stdout, /^fabric-peer: a Hyperledger Fabric v0\.6 peer on libp2p\n\nUsage: fabric-peer <command> \[options\]/)
    assert.equal(help.stdout, helpFirst.stdout)
    assert.equal(optionOnly.code, 1)
    assert.match(optionOnly.stderr, /^fabric-peer: options go after the command: fabric-peer <command> --json\n\nfabric-peer: a Hyperledger/)
  })

  it('version and --version print the version; a bare fabric-peer prints the help on stderr and exits 1', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
    const [word, flag, bare] = await Promise.all([runCli(['version']), runCli(['--version']), runCli([])])
    assert.equal(word.code, 0, word.stderr)
    assert.equal(word.stdout, `fabric-peer ${pkg.version as string} (libp2p-fabric-peer on Node.js ${process.version})\n`)
    assert.equal(flag.stdout, word.stdout)
    assert.equal(bare.code, 1)
    assert.equal(bare.stdout, '')
    assert.match(bare.stderr, /Usage: fabric-peer <command> \[options\]/)
  })

  it('under a Node older than 22 it exits 1 with one line, before loading libp2p or touching the data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fabric-cli-node-'))

    try {
      // what process.versions says under Node 20; the check runs before anything else loads
      const res = await runCli(['id', '--data', join(dir, 'peer')], { NODE_OPTIONS: '--import=data:text/javascript,Object.defineProperty(process.versions,\'node\',{value:\'20.11.1\'})' })

      assert.equal(res.code, 1)
      assert.equal(res.stderr, 'fabric-peer: needs Node.js 22 or newer (libp2p 3 does), this is v20.11.1\n')
      assert.equal(res.stdout, '')
      await assert.rejects(access(join(dir, 'peer')))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('peer text is printed on one line: control characters escaped, length bounded', () => {
    assert.equal(printable('disconnected by peer: bye'), 'disconnected by peer: bye')
    assert.equal(printable('bye\n+ chat with 12D3KooWforged (validator, inbound)'), 'bye\\n+ chat with 12D3KooWforged (validator, inbound)')
    assert.equal(printable('\x1b[2J\x1b]0;owned\x07\r\t\x00\x7f\x85\x9b'), '\\x1b[2J\\x1b]0;owned\\x07\\r\\t\\x00\\x7f\\x85\\x9b')
    assert.equal(printable('a\u2028b\u202ec'), 'a\\u2028b\\u202ec')
    assert.equal(printable('é ✓ 🙂'), 'é ✓ 🙂')

    const long = printable('x'.repeat(1024))
    assert.equal(long, `${'x'.repeat(200)}…`)
    // an escape is never cut in half
    assert.equal(printable(`${'x'.repeat(198)}\x1b`), `${'x'.repeat(198)}…`)
    assert.ok(printable('\n'.repeat(1024)).length <= 201)
  })
})

describe('fabric-peer node start: startup and shutdown', () => {
  let dir: string
  const nodes: CliNode[] = []

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'fabric-cli-start-')) })
  after(async () => {
    await Promise.all(nodes.map(async n => n.stop('SIGKILL')))
    await rm(dir, { recursive: true, force: true })
  })

  /** Wait until the node has created its data directory: it is inside node start, not yet running */
  async function starting (data: string, node: CliNode, timeout = 20_000): Promise<void> {
    const deadline = Date.now() + timeout

    while (await access(data).then(() => false, () => true)) {
      if (node.child.exitCode != null || Date.now() > deadline) {
        throw new Error(`the node did not create ${data}\nstdout:\n${node.stdout}\nstderr:\n${node.stderr}`)
      }

      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }

  it('a corrupt persisted discovery list is a warning line on stderr without DEBUG, and the node starts', async () => {
    const data = join(dir, 'corrupt')
    const opened = await openDataDir(data)
    await opened.datastore.put(new Key(DISCOVERY_LIST_KEY), Uint8Array.from([0x0a, 0x7f, 0x2f, 0x69]))
    await opened.datastore.close()

    const node = new CliNode(['--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0'], { DEBUG: '' })
    nodes.push(node)
    await node.ready()
    assert.match(node.stderr, /^warning: the persisted discovery list \(\/fabric\/discovery, 4 bytes\) is corrupt .*kept the 0 addresses/m)
  })

  it('SIGTERM while the node starts stops it cleanly once it runs: exit 0, the data directory free', async () => {
    const data = join(dir, 'early')
    const node = new CliNode(['--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0'])
    nodes.push(node)
    await starting(data, node)

    const code = await node.stop('SIGTERM')

    assert.equal(code, 0, `stdout:\n${node.stdout}\nstderr:\n${node.stderr}`)
    assert.match(node.stdout, /^SIGTERM: stopping - closing 0 chats and saving the discovery list$/m)
    assert.match(node.stdout, /^stopped cleanly/m)
    const id = await runCli(['id', '--data', data])
    assert.equal(id.code, 0, id.stderr)
    assert.match(id.stdout, /^12D3KooW\w+\n$/)
  })

  it('a second signal while the node starts exits 1 at once', async () => {
    const data = join(dir, 'twice')
    const node = new CliNode(['--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', 'off'])
    nodes.push(node)
    await starting(data, node)

    const exited = new Promise<number | null>(resolve => node.child.once('exit', resolve))
    // two signals sent at once would arrive as one: the second goes once the first is taken
    const remembered = new Promise<void>(resolve => {
      const check = (): void => {
        if (node.stdout.includes('SIGINT: stopping')) {
          node.child.stdout?.off('data', check)
          resolve()
        }
      }
      node.child.stdout?.on('data', check)
    })
    node.child.kill('SIGINT')
    await Promise.race([remembered, exited])
    node.child.kill('SIGINT')
    const code = await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 15_000, 'timeout'))])

    assert.equal(code, 1, `stdout:\n${node.stdout}\nstderr:\n${node.stderr}`)
    assert.match(node.stderr, /^SIGINT again: exiting/m)
  })

  it('with --announce, listening: shows the bound addresses and announce: the announced ones', async () => {
    const node = new CliNode(['--data', join(dir, 'announced'), '--listen', '/ip4/127.0.0.1/tcp/0', '--announce', '/ip4/10.1.2.3/tcp/7051,/dns4/peer.example/tcp/7051', '--admin', 'off'])
    nodes.push(node)
    const { peerId, address } = await node.ready()

    assert.match(address, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/[1-9]\\d*/p2p/${peerId}$`))
    assert.deepEqual(node.stdout.match(/^listening: .*$/gm), [`listening:  ${address}`])
    assert.deepEqual(node.stdout.match(/^announce: .*$/gm), [
      `announce:   /ip4/10.1.2.3/tcp/7051/p2p/${peerId}`,
      `announce:   /dns4/peer.example/tcp/7051/p2p/${peerId}`
    ])
    assert.equal(await node.stop('SIGTERM'), 0, node.stderr)
  })
})
