/**
 * The commands that talk to a running node (`network list`, `tx submit`) or
 * only read a data directory (`id`).
 */

import { resolve } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CliError } from './errors.js'
import { adminRequest } from './http.js'
import type { PeersAnswer, PeerRow, TransactionAnswer, TransactionRequest } from './admin-api.js'
import type { HostPort, PeerConfig } from './config.js'
import type { Printer } from './printable.js'

/** Fabric's transaction types, by the short names `tx submit --type` takes */
/** `fabric-peer network list`: the node's established peers as a table (or JSON) */
export async function networkList (config: PeerConfig, json: boolean, print: Printer): Promise<void> {
  const answer: PeersAnswer = await adminRequest(adminOf(config), 'GET', '/peers')

  if (json) {
    print.out(JSON.stringify(answer, null, 2))
    return
  }

  const { self, peers } = answer
  print.out(`${self.id} (${roleName(self.type)}): ${peers.length} peer${peers.length === 1 ? '' : 's'}, ${answer.discovery} node${answer.discovery === 1 ? '' : 's'} in discovery`)

  if (peers.length > 0) {
    print.out('')
    table(['PeerId', 'Role', 'Address'], [...peers].sort(byRoleThenId).map(p => [p.id, roleName(p.type), p.address]), print)
  }
}

/** `fabric-peer tx submit`: submit a transaction and print its Response; FAILURE exits 1 */
export async function txSubmit (config: PeerConfig, request: TransactionRequest, json: boolean, print: Printer): Promise<boolean> {
  const answer: TransactionAnswer = await adminRequest(adminOf(config), 'POST', '/transactions', request)

  if (json) {
    print.out(JSON.stringify(answer, null, 2))
  } else {
    print.out(`transaction ${answer.txid}: ${answer.status}${answer.message === '' ? '' : ` - ${answer.message}`}`)
  }

  return answer.status === 'SUCCESS'
}

/** `fabric-peer id`: the PeerId of a data directory, creating its key the first time */
export async function id (config: PeerConfig, print: Printer): Promise<void> {
  // LevelDB is loaded only by the commands that open a data directory
  const { openDataDirOrExplain } = await import('./data-dir.js')
  const data = await openDataDirOrExplain(resolve(config.dataDir))

  try {
    print.out(peerIdFromPrivateKey(data.privateKey).toString())
  } finally {
    await data.datastore.close()
  }
}

/** Columns padded to their widest cell; the last one is not padded */
export function table (header: string[], rows: string[][], print: Printer): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join('  ')

  print.out(line(header))

  for (const row of rows) {
    print.out(line(row))
  }
}

function adminOf (config: PeerConfig): HostPort {
  if (config.admin == null) {
    throw new CliError('the admin API is off (peer.admin.address: off): give the running node\'s admin address with --admin HOST:PORT')
  }

  return config.admin
}

function roleName (type: string): string {
  return type === 'VALIDATOR' ? 'validator' : type === 'NON_VALIDATOR' ? 'non-validator' : 'unknown'
}

function byRoleThenId (a: PeerRow, b: PeerRow): number {
  return a.type === b.type ? a.id.localeCompare(b.id) : a.type === 'VALIDATOR' ? -1 : 1
}
