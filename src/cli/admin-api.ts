/**
 * What the admin API's server (admin.ts, inside `node start`) and its client
 * (commands.ts, `network list` / `tx submit`) agree on: the shapes of its
 * answers and the transaction type names. Types and constants only, so the
 * client loads none of the server.
 */

/** Fabric's transaction types by the short names the CLI and the admin API take */
export const TRANSACTION_TYPE_NAMES = ['deploy', 'invoke', 'query', 'terminate'] as const

/** One peer as the admin API lists it */
export interface PeerRow {
  id: string
  address: string
  /** VALIDATOR, NON_VALIDATOR or UNDEFINED */
  type: string
}

/** `GET /peers` */
export interface PeersAnswer {
  self: PeerRow
  peers: PeerRow[]
  /** Nodes in the discovery list */
  discovery: number
}

/** `POST /transactions` answer */
export interface TransactionAnswer {
  txid: string
  /** SUCCESS or FAILURE */
  status: string
  message: string
}

/** `POST /transactions` body */
export interface TransactionRequest {
  chaincode: string
  payload?: string
  type?: typeof TRANSACTION_TYPE_NAMES[number]
  txid?: string
}
