import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { InvalidParametersError } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import { envName, loadConfig, parseDuration } from '../src/cli/config.js'
import { ConfigError } from '../src/cli/errors.js'
import { fabricPeer } from '../src/index.js'
import { runCli } from './helpers/cli.js'
import { createNode } from './helpers/nodes.js'
import type { ConfigValue } from '../src/cli/config.js'

const ROOT_NODE = '/ip4/127.0.0.1/tcp/7051/p2p/12D3KooWKBrrXjvnzHUmwQMCz6EuYjpegj8zYPJPSawk3taMmZ4k'
let dir: string

before(async () => { dir = await mkdtemp(join(tmpdir(), 'fabric-config-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

async function yamlFile (name: string, text: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, text)
  return file
}

function flag (flagName: string, value: unknown): ConfigValue {
  return { value, source: { kind: 'flag', flag: flagName } }
}

/** The ConfigError loadConfig throws, or a failure if it does not */
async function configError (input: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  try {
    await loadConfig(input)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err
  }

  assert.fail('the configuration was accepted')
}

describe('configuration: core.yaml < CORE_* env < flags', () => {
  it('defaults are Fabric v0.6 core.yaml\'s', async () => {
    const config = await loadConfig()

    assert.equal(config.discoveryPeriod, 5_000)
    assert.equal(config.persist, true)
    assert.equal(config.touchPeriod, 6_000)
    assert.equal(config.touchMaxNodes, 100)
    assert.equal(config.validator, true)
    assert.equal(config.security.enabled, false)
    assert.equal(config.sendQueueSize, 1000)
    assert.deepEqual(config.rootNodes, [])
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 7050 })
    assert.equal(config.metrics, undefined)
  })

  it('reads Fabric\'s keys from YAML, converting durations to ms', async () => {
    const file = await yamlFile('full.yaml', `
peer:
  fileSystemPath: /var/fabric/vp0
  listenAddress: /ip4/127.0.0.1/tcp/0
  validator:
    enabled: false
  discovery:
    rootnode: ${ROOT_NODE}
    period: 1m30s
    persist: false
    touchPeriod: 0
    touchMaxNodes: -1
security:
  enabled: true
  maxMessageAge: 500ms
`)
    const config = await loadConfig({ file })

    assert.equal(config.dataDir, '/var/fabric/vp0')
    assert.deepEqual(config.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(config.validator, false)
    assert.deepEqual(config.rootNodes, [ROOT_NODE])
    assert.equal(config.discoveryPeriod, 90_000)
    assert.equal(config.persist, false)
    assert.equal(config.touchPeriod, 0)
    assert.equal(config.touchMaxNodes, -1)
    assert.equal(config.security.enabled, true)
    assert.equal(config.security.maxMessageAge, 500)
  })

  it('examples/core.yaml is valid and spells out the defaults', async () => {
    const config = await loadConfig({ file: 'examples/core.yaml' })

    assert.equal(config.dataDir, './data/vp0')
    assert.deepEqual(config.listen, ['/ip4/127.0.0.1/tcp/7051'])
    assert.deepEqual(config.rootNodes, [])
    assert.deepEqual({ ...config, dataDir: undefined, listen: undefined }, { ...await loadConfig(), dataDir: undefined, listen: undefined })
  })

  it('env overrides the file and flags override env', async () => {
    const file = await yamlFile('layers.yaml', 'peer:\n  fileSystemPath: from-file\n  discovery:\n    period: 1s\n')
    const env = { CORE_PEER_FILESYSTEMPATH: 'from-env', CORE_PEER_DISCOVERY_PERIOD: '2500ms', PATH: '/bin' }

    assert.equal((await loadConfig({ file })).dataDir, 'from-file')
    assert.equal((await loadConfig({ file, env })).dataDir, 'from-env')
    assert.equal((await loadConfig({ file, env })).discoveryPeriod, 2_500)
    assert.equal((await loadConfig({ file, env, flags: { 'peer.fileSystemPath': flag('--data', 'from-flag') } })).dataDir, 'from-flag')
  })

  it('an empty CORE_* variable is unset, as in viper: the file\'s value stays', async () => {
    const file = await yamlFile('empty-env.yaml', 'peer:\n  fileSystemPath: from-file\n  listenAddress: /ip4/127.0.0.1/tcp/0\n')
    const config = await loadConfig({ file, env: { CORE_PEER_FILESYSTEMPATH: '', CORE_PEER_LISTENADDRESS: '', CORE_PEER_DISCOVERY_PERIOD: '' } })

    assert.equal(config.dataDir, 'from-file')
    assert.deepEqual(config.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(config.discoveryPeriod, 5_000)
  })

  it('a bare number is no duration (Go\'s syntax), except 0: touchPeriod: 6 is an error with a hint, not 6 ms', async () => {
    const file = await yamlFile('bare.yaml', 'peer:\n  discovery:\n    touchPeriod: 6\n')
    await assert.rejects(loadConfig({ file }), /peer\.discovery\.touchPeriod \(from file .*\): 6 is not a duration: a bare number is none in Fabric's \(Go's\) syntax, only 0 is; write 6s or 6ms/)
    await assert.rejects(loadConfig({ env: { CORE_PEER_DISCOVERY_PERIOD: '2500' } }), /"2500" is not a duration: a bare number/)
    assert.equal((await loadConfig({ env: { CORE_PEER_DISCOVERY_TOUCHPERIOD: '0' } })).touchPeriod, 0)
    assert.equal((await loadConfig({ file: await yamlFile('zero.yaml', 'peer:\n  discovery:\n    touchPeriod: 0\n') })).touchPeriod, 0)
  })

  it('a duration of exactly 2^31-1 ms is accepted', async () => {
    assert.equal((await loadConfig({ env: { CORE_PEER_DISCOVERY_TOUCHPERIOD: '2147483647ms' } })).touchPeriod, 2 ** 31 - 1)
  })

  it('env names follow viper: CORE_ + the key upper-cased with _', async () => {
    assert.equal(envName('peer.discovery.rootnode'), 'CORE_PEER_DISCOVERY_ROOTNODE')
    assert.equal(envName('peer.discovery.touchMaxNodes'), 'CORE_PEER_DISCOVERY_TOUCHMAXNODES')
    assert.equal(envName('security.enabled'), 'CORE_SECURITY_ENABLED')

    const config = await loadConfig({ env: { CORE_PEER_VALIDATOR_ENABLED: 'false', CORE_SECURITY_ENABLED: 'true', CORE_PEER_DISCOVERY_ROOTNODE: `${ROOT_NODE}, ${ROOT_NODE}` } })
    assert.equal(config.validator, false)
    assert.equal(config.security.enabled, true)
    assert.deepEqual(config.rootNodes, [ROOT_NODE, ROOT_NODE])
  })

  it('parses Go-style durations; a bare number is none, except 0', () => {
    assert.equal(parseDuration('5s'), 5_000)
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('1h2m3s'), 3_723_000)
    assert.equal(parseDuration('1.5s'), 1_500)
    assert.equal(parseDuration('250'), undefined)
    assert.equal(parseDuration('0'), 0)
    assert.equal(parseDuration('5 sec'), undefined)
    assert.equal(parseDuration('-1s'), undefined)
  })

  describe('bad values name the key and where they came from', () => {
    const cases: Array<{ what: string, file: string, env: Record<string, string>, flags?: Record<string, ConfigValue>, expect: { file: RegExp, env: RegExp, flag?: RegExp } }> = [
      {
        what: 'an unknown key',
        file: 'peer:\n  discovery:\n    touchperiod: 6s\n',
        env: { CORE_PEER_DISCOVERY_ROOTNODES: ROOT_NODE },
        expect: { file: /peer\.discovery\.touchperiod \(from file .*\): unknown key \(did you mean peer\.discovery\.touchPeriod\?\)/, env: /env CORE_PEER_DISCOVERY_ROOTNODES: unknown setting/ }
      },
      {
        what: 'a wrong type',
        file: 'peer:\n  validator:\n    enabled: maybe\n',
        env: { CORE_PEER_DISCOVERY_TOUCHMAXNODES: 'lots' },
        flags: { 'peer.admin.address': flag('--admin', 'localhost') },
        expect: {
          file: /peer\.validator\.enabled \(from file .*\): expected true or false, got "maybe"/,
          env: /peer\.discovery\.touchMaxNodes \(from env CORE_PEER_DISCOVERY_TOUCHMAXNODES\): expected a whole number, got "lots"/,
          flag: /peer\.admin\.address \(from flag --admin\): "localhost" is not host:port/
        }
      },
      {
        what: 'a bad multiaddr',
        file: 'peer:\n  listenAddress: /ip4/127.0.0.1/tcp/notaport\n',
        // a root node without /p2p/ is fine now (dialed to learn its PeerId); one with a bad PeerId is not
        env: { CORE_PEER_DISCOVERY_ROOTNODE: '/ip4/127.0.0.1/tcp/7051/p2p/notapeerid' },
        flags: { 'peer.listenAddress': flag('--listen', '/ip4/999.0.0.1/tcp/0') },
        expect: {
          file: /peer\.listenAddress \(from file .*\): item 1: "\/ip4\/127\.0\.0\.1\/tcp\/notaport" is not a multiaddr/,
          env: /peer\.discovery\.rootnode \(from env CORE_PEER_DISCOVERY_ROOTNODE\): item 1: .*(invalid PeerId|is not a multiaddr)/,
          flag: /peer\.listenAddress \(from flag --listen\): item 1: "\/ip4\/999\.0\.0\.1\/tcp\/0" is not a multiaddr/
        }
      },
      {
        // a longer timer fires after 1 ms: the touch loop would spin
        what: 'a duration over Node\'s longest timer',
        file: 'peer:\n  discovery:\n    touchPeriod: 600h\n',
        env: { CORE_SECURITY_MAXMESSAGEAGE: '2147483648ms' },
        expect: {
          file: /peer\.discovery\.touchPeriod \(from file .*\): must be at most 2147483647ms \(about 24\.8 days, the longest delay a Node timer takes\), got "600h"/,
          env: /security\.maxMessageAge \(from env CORE_SECURITY_MAXMESSAGEAGE\): must be at most 2147483647ms/
        }
      },
      {
        what: 'no listen address',
        file: 'peer:\n  listenAddress: []\n',
        env: { CORE_PEER_LISTENADDRESS: ' , ' },
        flags: { 'peer.listenAddress': flag('--listen', '') },
        expect: {
          file: /peer\.listenAddress \(from file .*\): must list at least one multiaddr/,
          env: /peer\.listenAddress \(from env CORE_PEER_LISTENADDRESS\): must list at least one multiaddr/,
          flag: /peer\.listenAddress \(from flag --listen\): must list at least one multiaddr/
        }
      }
    ]

    for (const c of cases) {
      it(`${c.what} from the file, env${c.flags == null ? '' : ' and a flag'}`, async () => {
        const file = await yamlFile(`bad-${c.what.replaceAll(' ', '-')}.yaml`, c.file)

        assert.match((await configError({ file })).message, c.expect.file)
        assert.match((await configError({ env: c.env })).message, c.expect.env)

        if (c.flags != null) {
          assert.match((await configError({ flags: c.flags })).message, c.expect.flag as RegExp)
        }
      })
    }

    it('every problem at once, each with its own source', async () => {
      const file = await yamlFile('several.yaml', 'peer:\n  discovery:\n    period: fast\n')
      const err = await configError({ file, env: { CORE_PEER_DISCOVERY_PERSIST: 'perhaps' }, flags: { 'peer.metrics.address': flag('--metrics', '127.0.0.1:99999') } })

      assert.deepEqual(err.issues.map(i => [i.key, i.source.kind]).sort(), [
        ['peer.discovery.period', 'file'],
        ['peer.discovery.persist', 'env'],
        ['peer.metrics.address', 'flag']
      ])
    })

    it('the admin API binds to loopback only, and a non-mapping section is named', async () => {
      assert.match((await configError({ env: { CORE_PEER_ADMIN_ADDRESS: '0.0.0.0:7050' } })).message, /peer\.admin\.address \(from env CORE_PEER_ADMIN_ADDRESS\): "0\.0\.0\.0:7050" is not a loopback address/)
      const file = await yamlFile('section.yaml', 'peer:\n  discovery: 5s\n')
      assert.match((await configError({ file })).message, /peer\.discovery \(from file .*\): must be a mapping/)
    })

    it('security lists need security.enabled, and an unreadable or broken file is reported', async () => {
      assert.match((await configError({ env: { CORE_SECURITY_ALLOWEDPEERS: '12D3KooWKBrrXjvnzHUmwQMCz6EuYjpegj8zYPJPSawk3taMmZ4k' } })).message, /security\.allowedPeers \(from env CORE_SECURITY_ALLOWEDPEERS\): only applies with security\.enabled: true/)
      assert.match((await configError({ file: join(dir, 'missing.yaml') })).message, /file .*missing\.yaml: cannot read it: no such file/)
      assert.match((await configError({ file: await yamlFile('broken.yaml', 'peer: [1, 2\n') })).message, /file .*broken\.yaml: not valid YAML/)
    })
  })
})

describe('a Fabric v0.6 configuration', () => {
  it('Fabric\'s docker-compose environment starts: one warning per variable that does not apply, none fatal', async () => {
    const env = {
      CORE_PEER_ID: 'vp0',
      CORE_PEER_NETWORKID: 'dev',
      CORE_LOGGING_LEVEL: 'debug',
      CORE_VM_ENDPOINT: 'unix:///var/run/docker.sock',
      CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN: 'noops',
      CORE_PEER_ADDRESSAUTODETECT: 'true',
      CORE_PEER_DISCOVERY_PERIOD: '2s'
    }
    const config = await loadConfig({ env })
    assert.equal(config.discoveryPeriod, 2_000)
    assert.equal(config.warnings.length, 6)
    assert.match(config.warnings[0], /^CORE_PEER_ID does not apply here, ignored: the identity is the key in the data directory/)
    assert.ok(config.warnings.some(w => /^CORE_VM_ENDPOINT does not apply here, ignored: there is no chaincode runtime here$/.test(w)))
    assert.ok(config.warnings.some(w => /^CORE_LOGGING_LEVEL does not apply here, ignored: logs are/.test(w)))
  })

  it('a core.yaml with Fabric\'s sections starts: one warning per key that does not apply, its own keys taken', async () => {
    const file = await yamlFile('fabric-core.yaml', [
      'logging:', '  peer: warning', '  node: info',
      'peer:', '  id: jdoe', '  networkId: dev', '  fileSystemPath: /var/hyperledger/production',
      '  tls:', '    enabled: false', '    cert:', '      file: testdata/server1.pem',
      '  validator:', '    enabled: true', '    consensus:', '      plugin: noops', '      buffersize: 1000',
      '  discovery:', '    period: 5s', '    touchPeriod: 6s', '    touchMaxNodes: 100',
      'rest:', '  address: 0.0.0.0:7050',
      'vm:', '  endpoint: unix:///var/run/docker.sock',
      'security:', '  enabled: false', '  level: 256', '  hashAlgorithm: SHA3'
    ].join('\n') + '\n')
    const config = await loadConfig({ file })
    assert.equal(config.dataDir, '/var/hyperledger/production')
    assert.equal(config.validator, true)
    assert.equal(config.touchPeriod, 6_000)
    assert.deepEqual(config.warnings.map(w => w.split(' ')[0]), ['logging.peer', 'logging.node', 'peer.id', 'peer.networkId', 'peer.tls.enabled', 'peer.tls.cert.file', 'peer.validator.consensus.plugin', 'rest.address', 'vm.endpoint', 'security.level', 'security.hashAlgorithm'])
  })

  it('host:port is taken where Fabric took it: listen and announce addresses, root nodes (without a PeerId)', async () => {
    const config = await loadConfig({ env: { CORE_PEER_LISTENADDRESS: '0.0.0.0:7051', CORE_PEER_ADDRESS: 'vp0:7051', CORE_PEER_DISCOVERY_ROOTNODE: 'vp0:7051,[::1]:7052' } })
    assert.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/7051'])
    assert.deepEqual(config.announce, ['/dns4/vp0/tcp/7051'])
    assert.deepEqual(config.rootNodes, ['/dns4/vp0/tcp/7051', '/ip6/::1/tcp/7052'])
  })

  it('a misspelt CORE_* variable gets a "did you mean"', async () => {
    await assert.rejects(loadConfig({ env: { CORE_PEER_DISCOVERY_ROOTNODES: '' + '/ip4/127.0.0.1/tcp/1' } }), /env CORE_PEER_DISCOVERY_ROOTNODES: unknown setting \(did you mean CORE_PEER_DISCOVERY_ROOTNODE\?\)/)
    await assert.rejects(loadConfig({ env: { CORE_PEER_LISTENADRESS: '/ip4/127.0.0.1/tcp/0' } }), /did you mean CORE_PEER_LISTENADDRESS\?/)
    await assert.rejects(loadConfig({ env: { CORE_PEER_COLOUR: 'blue' } }), /env CORE_PEER_COLOUR: unknown setting: no configuration key is named so/)
  })
})

describe('fabricPeer options in ms', () => {
  it('are refused above 2^31-1, the longest delay a Node timer takes', async () => {
    for (const fabric of [{ touchPeriod: 2 ** 31 }, { discoveryPeriod: 2 ** 31 }, { persistDelay: 2 ** 31 }, { dialBackoffMax: 2 ** 40 }, { helloTimeout: 2 ** 31 }]) {
      await assert.rejects(createNode({ fabric }), (err: Error) => {
        assert.ok(err instanceof InvalidParametersError, String(err))
        assert.match(err.message, /^fabricPeer \w+ must be at most 2147483647 \(ms, the longest delay a Node timer takes\), got \d+$/)
        return true
      })
    }
  })

  it('are accepted up to 2^31-1', async () => {
    const node = await createLibp2p({ start: false, services: { fabric: fabricPeer({ touchPeriod: 2 ** 31 - 1, discoveryPeriod: 2 ** 31 - 1 }) } })
    await node.stop()
  })
})

describe('the CLI with a bad configuration', () => {
  const noStack = (stderr: string): void => { assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace in:\n${stderr}`) }

  it('exits 1 with the key and source of each problem (file, env, flag) and no stack trace', async () => {
    const file = await yamlFile('cli-bad.yaml', 'peer:\n  discovery:\n    period: fast\n  colour: blue\n')
    const res = await runCli(['node', 'start', '--config', file, '--listen', '/ip4/127.0.0.1/tcp/x', '--data', join(dir, 'never')], { CORE_PEER_VALIDATOR_ENABLED: 'maybe' })

    assert.equal(res.code, 1)
    assert.match(res.stderr, /^fabric-peer: invalid configuration:/)
    assert.match(res.stderr, /peer\.discovery\.period \(from file .*cli-bad\.yaml\): "fast" is not a duration/)
    assert.match(res.stderr, /peer\.colour \(from file .*cli-bad\.yaml\): unknown key/)
    assert.match(res.stderr, /peer\.validator\.enabled \(from env CORE_PEER_VALIDATOR_ENABLED\): expected true or false, got "maybe"/)
    assert.match(res.stderr, /peer\.listenAddress \(from flag --listen\): item 1: "\/ip4\/127\.0\.0\.1\/tcp\/x" is not a multiaddr/)
    assert.equal(res.stdout, '')
    noStack(res.stderr)
  })

  it('exits 1 on an unknown flag, an unknown env setting and a missing file', async () => {
    const flagRes = await runCli(['node', 'start', '--colour', 'blue'])
    assert.equal(flagRes.code, 1)
    assert.match(flagRes.stderr, /^fabric-peer: Unknown option '--colour' \(see fabric-peer node start --help\)/)
    noStack(flagRes.stderr)

    const envRes = await runCli(['id', '--config', join(dir, 'nowhere.yaml')], { CORE_PEER_COLOUR: 'blue' })
    assert.equal(envRes.code, 1)
    assert.match(envRes.stderr, /file .*nowhere\.yaml: cannot read it: no such file/)
    assert.match(envRes.stderr, /env CORE_PEER_COLOUR: unknown setting/)
    noStack(envRes.stderr)
  })
})
