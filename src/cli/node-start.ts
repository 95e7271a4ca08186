/**
 * `fabric-peer node start`: one long-lived node on an embedded LevelDB data
 * directory with a persisted identity, its admin API and optionally a metrics
 * endpoint, until SIGINT or SIGTERM.
 */

import { resolve } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import { Registry } from 'prom-client'
import { DatastoreLedger, fabricConnectionGater, fabricPeer, noopsEngine, PeerEndpoint } from '../index.js'
import { adminRoutes } from './admin.js'
import { HANDSHAKE_TIMEOUT, PENDING_HANDSHAKES, STOP_TIMEOUT } from './constants.js'
import { openDataDirOrExplain } from './data-dir.js'
import { CliError } from './errors.js'
import { serveJson, serveText } from './http.js'
import { printable } from './printable.js'
import { resolveRootNodes } from './root-nodes.js'
import type { Printer } from './printable.js'
import { catchStopSignals, onStopSignal } from './signals.js'
import type { PeerConfig } from './config.js'
import type { DataDir } from '../identity.js'
import type { FabricPeer, SecurityInit } from '../index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Start the node and print what a person (or a script) needs: PeerId,
 * dialable addresses, admin and metrics URLs. Resolves once the node runs;
 * the process then lives until a signal stops it.
 */
/** Whether a root node's address names its PeerId */
function named (address: string): boolean {
  return multiaddr(address).getComponents().some(c => c.name === 'p2p')
}

export async function nodeStart (config: PeerConfig, print: Printer): Promise<void> {
  // a signal while starting stops the node once it runs (the bin catches them earlier still)
  catchStopSignals()

  for (const warning of config.warnings) {
    print.err(`warning: ${printable(warning)}`)
  }

  const dataDir = resolve(config.dataDir)
  const data = await openDataDirOrExplain(dataDir)
  const started: Array<{ close(): Promise<void> }> = []
  let node: Libp2p<{ fabric: FabricPeer }> | undefined

  try {
    const logger = defaultLogger()
    const ledger = await new DatastoreLedger(data.datastore).open()
    const security: SecurityInit = config.security.enabled ? config.security : { enabled: false }
    const registry = config.metrics == null ? undefined : new Registry()

    node = await createLibp2p({
      // started below, once the listeners are watched
      start: false,
      privateKey: data.privateKey,
      datastore: data.datastore,
      logger,
      addresses: { listen: config.listen, announce: config.announce },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: config.security.enabled ? fabricConnectionGater(security) : undefined,
      // silent sockets must not lock honest peers out: see the constants
      connectionManager: { inboundUpgradeTimeout: HANDSHAKE_TIMEOUT, maxIncomingPendingConnections: PENDING_HANDSHAKES },
      metrics: registry == null ? undefined : prometheusMetrics({ registry }),
      services: {
        fabric: fabricPeer({
          validator: config.validator,
          // a root node without /p2p/ is dialed to learn its PeerId (below)
          rootNodes: config.rootNodes.filter(named),
          discoveryPeriod: config.discoveryPeriod,
          persist: config.persist,
          touchPeriod: config.touchPeriod,
          touchMaxNodes: config.touchMaxNodes,
          minValidators: config.minValidators,
          sendQueueSize: config.sendQueueSize,
          security,
          ledger,
          engine: config.validator ? noopsEngine({ ledger, logger }) : undefined
        })
      }
    }).catch((err: Error) => {
      throw new CliError(`cannot start the node: ${startFailure(err)}`)
    })

    // the bound addresses: getMultiaddrs() are the announced ones when --announce is given
    const listening: Multiaddr[] = []
    node.addEventListener('transport:listening', (evt) => { listening.push(...evt.detail.getAddrs()) })
    const fabric = node.services.fabric
    // chats may open while the servers start: their lines wait for the header
    const early: string[] = []
    let headerPrinted = false
    const event = (line: string): void => { headerPrinted ? print.out(line) : early.push(line) }
    fabric.addEventListener('peer:established', (evt) => {
      event(`+ chat with ${evt.detail.peerId} (${role(evt.detail.endpoint.type)}, ${evt.detail.initiated ? 'outbound' : 'inbound'})`)
    })
    // reasons may carry a peer's own text (a DISC_DISCONNECT payload, hello fields)
    fabric.addEventListener('peer:closed', (evt) => {
      event(`- chat with ${evt.detail.peerId} closed: ${printable(evt.detail.reason)}`)
    })
    // what an operator must see without DEBUG (a corrupt discovery list): at once, on stderr
    fabric.addEventListener('warning', (evt) => {
      print.err(`warning: ${printable(evt.detail.message)}`)
    })
    fabric.addEventListener('peer:rejected', (evt) => {
      event(`! rejected ${evt.detail.peerId}: ${printable(evt.detail.reason)}`)
    })

    try {
      await node.start()
    } catch (err: any) {
      throw new CliError(`cannot start the node: ${startFailure(err)}`)
    }

    const admin = config.admin == null ? undefined : await serveJson(config.admin, adminRoutes(fabric), 'admin API')
    started.push(...(admin == null ? [] : [admin]))
    const metrics = config.metrics == null || registry == null
      ? undefined
      : await serveText(config.metrics, '/metrics', 'metrics', async () => ({ contentType: registry.contentType, text: await registry.metrics() }))
    started.push(...(metrics == null ? [] : [metrics]))

    print.out(`fabric-peer node start: ${config.validator ? 'validator (noops engine)' : 'non-validator'}${config.security.enabled ? ', security enabled' : ''}`)
    print.out(`PeerId:     ${node.peerId}`)
    print.out(`data:       ${dataDir} (LevelDB, height ${ledger.height})`)

    for (const addr of listening) {
      print.out(`listening:  ${addr.encapsulate(`/p2p/${node.peerId}`)}`)
    }

    if (config.announce.length > 0) {
      for (const addr of node.getMultiaddrs()) {
        print.out(`announce:   ${addr}`)
      }
    }

    print.out(`root nodes: ${config.rootNodes.length === 0 ? '(none)' : config.rootNodes.join(', ')}`)
    print.out(`admin:      ${admin == null ? 'off' : `${admin.url} (network list, tx submit)`}`)

    if (metrics != null) {
      print.out(`metrics:    ${metrics.url}/metrics`)
    }

    print.out('ready (Ctrl-C to stop)')
    headerPrinted = true
    early.forEach(line => { print.out(line) })
    const unnamed = config.rootNodes.filter(a => !named(a))

    if (unnamed.length > 0) {
      started.push(resolveRootNodes(node, unnamed, line => { print.out(line) }))
    }

    onStopSignal(stopper(node, data, started, config.persist, print))
  } catch (err) {
    await Promise.allSettled(started.map(async s => s.close()))
    await Promise.resolve(node?.stop()).catch(() => {})
    await data.datastore.close().catch(() => {})
    throw err
  }
}

/**
 * SIGINT/SIGTERM: stop libp2p (the service tells every peer, closes its chats
 * and saves the discovery list in beforeStop), close the servers and the
 * datastore, exit 0. A second signal, or STOP_TIMEOUT, exits at once with 1.
 */
function stopper (node: Libp2p<{ fabric: FabricPeer }>, data: DataDir, servers: Array<{ close(): Promise<void> }>, persist: boolean, print: Printer): (signal: NodeJS.Signals) => void {
  let stopping = false

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      print.err(`${signal} again: exiting without finishing the shutdown`)
      process.exit(1)
    }

    stopping = true
    const chats = node.services.fabric.getPeers().peers.length
    print.out(`${signal}: stopping - closing ${chats} chat${chats === 1 ? '' : 's'}${persist ? ' and saving the discovery list' : ''}`)
    setTimeout(() => {
      print.err(`shutdown did not finish within ${STOP_TIMEOUT}ms: exiting`)
      process.exit(1)
    }, STOP_TIMEOUT).unref()

    void (async () => {
      await Promise.allSettled(servers.map(async s => s.close()))
      const nodes = node.services.fabric.discovery.size
      await node.stop()
      await data.datastore.close()
      print.out(persist ? `stopped cleanly (${nodes} node${nodes === 1 ? '' : 's'} in the saved discovery list)` : 'stopped cleanly')
      process.exit(0)
    })().catch((err: Error) => {
      print.err(`shutdown failed: ${err.message}`)
      process.exit(1)
    })
  }

  return stop
}

/**
 * libp2p's listen error lists each address with its error's stack: keep the
 * addresses and reasons, and say what to change
 */
function startFailure (err: Error): string {
  const lines = err.message.split('\n').filter(line => line.trim() !== '' && !/^\s+at /.test(line))
  const failed = lines.filter(line => /^\s*\//.test(line)).map(line => line.trim().replace(/: Error: listen (\w+):.*$/, ': $1'))

  if (failed.length === 0) {
    return lines.join(' ')
  }

  const inUse = failed.some(line => line.endsWith('EADDRINUSE'))
  return `cannot listen on ${failed.join(', ')}${inUse ? ' (address in use: another node? choose another --listen / peer.listenAddress port, or 0 for any free port)' : ''}`
}

function role (type: PeerEndpoint.Type): string {
  return type === PeerEndpoint.Type.VALIDATOR ? 'validator' : type === PeerEndpoint.Type.NON_VALIDATOR ? 'non-validator' : 'unknown role'
}
