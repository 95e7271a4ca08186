/**
 * `fabric-peer`: Fabric v0.6's `peer` command for the libp2p service (run by
 * `bin.ts` once it has checked the Node version).
 *
 *     fabric-peer node start [--config core.yaml] [--data DIR] [--listen MA] ...
 *     fabric-peer network list
 *     fabric-peer tx submit --chaincode NAME [--payload TEXT]
 *     fabric-peer id [--data DIR]
 *
 * Configuration: core.yaml (`--config`) < `CORE_*` environment < flags.
 * Every error is one readable message and exit code 1.
 */

import { parseArgs } from 'node:util'
import { CONFIG_KEYS, envName, loadConfig } from './config.js'
import { CliError, UsageError } from './errors.js'
import { TRANSACTION_TYPE_NAMES } from './admin-api.js'
import { awaitingStopSignal } from './signals.js'
import type { ConfigValue } from './config.js'
import type { Printer } from './printable.js'
import type { ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>

interface Command {
  summary: string
  usage: string
  options: Options
  run(values: Record<string, any>, print: Printer): Promise<void>
}

const CONFIG_OPTION: Options = { config: { type: 'string' } }
const HELP_OPTION: Options = { help: { type: 'boolean', short: 'h' } }

const COMMANDS: Record<string, Command> = {
  'node start': {
    summary: 'run a peer until Ctrl-C (SIGINT) or SIGTERM',
    usage: `fabric-peer node start [options]

Runs one peer on an embedded LevelDB data directory, with a persisted
identity. Prints its PeerId, listen addresses (and announced ones with
--announce), admin and metrics URLs, and a line per chat opened or closed.
SIGINT/SIGTERM stop it cleanly (chats closed, discovery list saved), also
while it starts; a second signal exits at once.

Options (each sets a core.yaml key; flags override env, env overrides the file):
  --config FILE        a core.yaml with the keys below
  --data DIR           peer.fileSystemPath
  --listen MA[,MA]     peer.listenAddress, e.g. /ip4/127.0.0.1/tcp/0
  --announce MA[,MA]   peer.address
  --root-node MA[,MA]  peer.discovery.rootnode (multiaddrs ending in /p2p/<PeerId>)
  --validator          peer.validator.enabled: true (runs the noops engine)
  --non-validator      peer.validator.enabled: false
  --admin HOST:PORT    peer.admin.address (loopback only; port 0: any free port; off)
  --metrics HOST:PORT  peer.metrics.address: serve Prometheus metrics at /metrics
  -h, --help           this help

${keysHelp()}`,
    options: {
      ...CONFIG_OPTION,
      data: { type: 'string' },
      listen: { type: 'string', multiple: true },
      announce: { type: 'string', multiple: true },
      'root-node': { type: 'string', multiple: true },
      validator: { type: 'boolean' },
      'non-validator': { type: 'boolean' },
      admin: { type: 'string' },
      metrics: { type: 'string' },
      ...HELP_OPTION
    },
    run: async (values, print) => {
      if (values.validator === true && values['non-validator'] === true) {
        throw new UsageError('--validator and --non-validator contradict each other: give one')
      }

      const flags = flagValues(values, {
        data: 'peer.fileSystemPath',
        listen: 'peer.listenAddress',
        announce: 'peer.address',
        'root-node': 'peer.discovery.rootnode',
        admin: 'peer.admin.address',
        metrics: 'peer.metrics.address'
      })

      if (values.validator === true || values['non-validator'] === true) {
        const flag = values.validator === true ? '--validator' : '--non-validator'
        flags['peer.validator.enabled'] = { value: values.validator === true, source: { kind: 'flag', flag } }
      }

      const config = await loadConfig({ file: values.config, env: process.env, flags })
      // libp2p and LevelDB are loaded only by the command that runs a node
      const { nodeStart } = await import('./node-start.js')
      await nodeStart(config, print)
    }
  },
  'network list': {
    summary: 'list the peers a running node chats with',
    usage: `fabric-peer network list [options]

Asks a running node (through its admin API) for its established peers and
prints them as a table: PeerId, role, address.

Options:
  --config FILE      a core.yaml: its peer.admin.address is used
  --admin HOST:PORT  the node's admin address (default 127.0.0.1:7050, or
                     CORE_PEER_ADMIN_ADDRESS); node start prints it
  --json             print the answer as JSON
  -h, --help         this help`,
    options: { ...CONFIG_OPTION, admin: { type: 'string' }, json: { type: 'boolean' }, ...HELP_OPTION },
    run: async (values, print) => {
      const config = await loadConfig({ file: values.config, env: process.env, flags: flagValues(values, { admin: 'peer.admin.address' }) })
      const { networkList } = await import('./commands.js')
      await networkList(config, values.json === true, print)
    }
  },
  'tx submit': {
    summary: 'submit a transaction to a running node and print its response',
    usage: `fabric-peer tx submit --chaincode NAME [options]

Submits a transaction to a running node (through its admin API). A validator
hands it to its engine; a non-validator forwards it to a validator. Prints the
Response; exits 1 if it is FAILURE.

Options:
  -n, --chaincode NAME  the chaincode (Transaction.chaincodeID)
  -c, --payload TEXT    the payload (default empty)
  --type TYPE           ${TRANSACTION_TYPE_NAMES.join(', ')} (default invoke)
  --txid ID             the transaction id (default a random UUID)
  --config FILE         a core.yaml: its peer.admin.address is used
  --admin HOST:PORT     the node's admin address (default 127.0.0.1:7050)
  --json                print the answer as JSON
  -h, --help            this help`,
    options: {
      ...CONFIG_OPTION,
      admin: { type: 'string' },
      chaincode: { type: 'string', short: 'n' },
      payload: { type: 'string', short: 'c' },
      type: { type: 'string' },
      txid: { type: 'string' },
      json: { type: 'boolean' },
      ...HELP_OPTION
    },
    run: async (values, print) => {
      if (values.chaincode == null || values.chaincode === '') {
        throw new UsageError('tx submit needs --chaincode NAME (see fabric-peer tx submit --help)')
      }

      if (values.type != null && !(TRANSACTION_TYPE_NAMES as readonly string[]).includes(values.type)) {
        throw new UsageError(`--type must be one of ${TRANSACTION_TYPE_NAMES.join(', ')}, got ${JSON.stringify(values.type)}`)
      }

      const config = await loadConfig({ file: values.config, env: process.env, flags: flagValues(values, { admin: 'peer.admin.address' }) })
      const { txSubmit } = await import('./commands.js')
      const ok = await txSubmit(config, { chaincode: values.chaincode, payload: values.payload, type: values.type, txid: values.txid }, values.json === true, print)

      if (!ok) {
        process.exitCode = 1
      }
    }
  },
  id: {
    summary: 'print the PeerId of a data directory (creating its key if absent)',
    usage: `fabric-peer id [options]

Prints the PeerId stored in a data directory, creating the directory and its
key the first time, so a node's address can be written down before it starts.
Not while a node runs on the directory (LevelDB allows one process).

Options:
  --config FILE  a core.yaml: its peer.fileSystemPath is used
  --data DIR     peer.fileSystemPath (default ./data/peer)
  -h, --help     this help`,
    options: { ...CONFIG_OPTION, data: { type: 'string' }, ...HELP_OPTION },
    run: async (values, print) => {
      const { id } = await import('./commands.js')
      await id(await loadConfig({ file: values.config, env: process.env, flags: flagValues(values, { data: 'peer.fileSystemPath' }) }), print)
    }
  }
}

const GROUPS: Record<string, string> = {
  node: 'node start',
  network: 'network list',
  tx: 'tx submit'
}

/** This package's version, from its package.json (found upward from this file: src/cli or dist/src/cli) */
async function packageVersion (): Promise<string> {
  const { readFile } = await import('node:fs/promises')

  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(up, import.meta.url), 'utf8'))

      if (pkg.name === 'libp2p-fabric-peer' && typeof pkg.version === 'string') {
        return pkg.version
      }
    } catch {
      // not here: look further up
    }
  }

  return 'unknown'
}

function mainHelp (): string {
  return `fabric-peer: a Hyperledger Fabric v0.6 peer on libp2p

Usage: fabric-peer <command> [options]   (options after the command)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`).join('\n')}

Configuration: core.yaml (--config FILE) < CORE_* environment variables < flags.
Run fabric-peer <command> --help for a command's options; node start --help lists every key.
fabric-peer version (or --version) prints the version.`
}

function keysHelp (): string {
  const rows = CONFIG_KEYS.map(k => [k.key, envName(k.key), k.shownDefault ?? String(k.default)])
  const widths = [0, 1].map(i => Math.max(...rows.map(r => r[i].length)))
  return `Keys (core.yaml key, environment variable, default):\n${rows.map(r => `  ${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2]}`).join('\n')}`
}

/** Flags given, as config values naming the flag they came from; multiple values join with commas */
function flagValues (values: Record<string, any>, keys: Record<string, string>): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {}

  for (const [flag, key] of Object.entries(keys)) {
    const value = values[flag]

    if (value != null) {
      out[key] = { value: Array.isArray(value) ? value.join(',') : value, source: { kind: 'flag', flag: `--${flag}` } }
    }
  }

  return out
}

async function main (argv: string[], print: Printer): Promise<void> {
  const first = argv[0]

  if (first == null) {
    // a bare command did nothing it was asked to: help, and a failure a script notices
    print.err(mainHelp())
    process.exitCode = 1
    return
  }

  if (first === 'help' || first === '--help' || first === '-h') {
    print.out(mainHelp())
    return
  }

  if (first === 'version' || first === '--version' || first === '-V') {
    print.out(`fabric-peer ${await packageVersion()} (libp2p-fabric-peer on Node.js ${process.version})`)
    return
  }

  if (first.startsWith('-')) {
    throw new UsageError(optionsFirst(argv))
  }

  const name = Object.keys(COMMANDS).find(n => n.split(' ').every((w, i) => argv[i] === w))

  if (name == null) {
    const group = GROUPS[first]

    if (group != null && (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h')) {
      print.out(COMMANDS[group].usage)
      return
    }

    throw new UsageError(`unknown command ${JSON.stringify(argv.slice(0, group == null ? 1 : 2).join(' '))}\n\n${mainHelp()}`)
  }

  const command = COMMANDS[name]
  let values: Record<string, any>

  try {
    values = parseArgs({ args: argv.slice(name.split(' ').length), options: command.options, strict: true, allowPositionals: false }).values
  } catch (err: any) {
    throw new UsageError(`${err.message.split('. ')[0]} (see fabric-peer ${name} --help)`)
  }

  if (values.help === true) {
    print.out(command.usage)
    return
  }

  await command.run(values, print)
}

/** `fabric-peer --config x.yaml node start`: say where options go, with the command line reordered when there is a command in it */
function optionsFirst (argv: string[]): string {
  for (const name of Object.keys(COMMANDS)) {
    const words = name.split(' ')
    const at = argv.findIndex((_, i) => words.every((w, j) => argv[i + j] === w))

    if (at > 0) {
      return `options go after the command: fabric-peer ${[...words, ...argv.slice(0, at), ...argv.slice(at + words.length)].map(shellWord).join(' ')}`
    }
  }

  return `options go after the command: fabric-peer <command> ${argv.map(shellWord).join(' ')}\n\n${mainHelp()}`
}

function shellWord (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll('\'', '\'\\\'\'')}'`
}

const print: Printer = {
  out: (line) => { process.stdout.write(`${line}\n`) },
  err: (line) => { process.stderr.write(`${line}\n`) }
}

// a running node must not die with a stack trace: one line, exit 1 (the stack with DEBUG set)
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: any) => {
    print.err(`fabric-peer: unexpected error: ${err?.message ?? String(err)}`)

    if (process.env.DEBUG != null) {
      print.err(err?.stack ?? '')
    }

    process.exit(1)
  })
}

main(process.argv.slice(2), print).then(() => {
  // a running node lives until a signal; other commands are done (an idle
  // keep-alive socket must not hold the process)
  if (!awaitingStopSignal()) {
    process.exit()
  }
}, (err: Error) => {
  print.err(err instanceof CliError ? `fabric-peer: ${err.message}` : `fabric-peer: unexpected error: ${err.message ?? String(err)}`)

  if (!(err instanceof CliError) && process.env.DEBUG != null) {
    print.err(err.stack ?? '')
  }

  process.exit(1)
})
