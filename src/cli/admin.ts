/**
 * The admin API of `fabric-peer node start`: JSON over HTTP on a loopback
 * address, the way Fabric's CLI talked to its peer's admin service.
 *
 * - `GET /peers` - our endpoint and the established peers (`getPeers()`)
 * - `POST /transactions` - `{ chaincode, payload?, type?, txid? }`, answered
 *   with the `Response` of `processTransaction()`
 */

import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { responseText, Transaction } from '../index.js'
import { TRANSACTION_TYPE_NAMES } from './admin-api.js'
import { HttpError } from './http.js'
import type { FabricPeer, PeerEndpoint } from '../index.js'
import type { PeerRow, PeersAnswer, TransactionAnswer, TransactionRequest } from './admin-api.js'
import type { Route } from './http.js'

/** Fabric's transaction types, by the short names the CLI takes */
export const TRANSACTION_TYPES: Record<typeof TRANSACTION_TYPE_NAMES[number], Transaction.Type> = {
  deploy: Transaction.Type.CHAINCODE_DEPLOY,
  invoke: Transaction.Type.CHAINCODE_INVOKE,
  query: Transaction.Type.CHAINCODE_QUERY,
  terminate: Transaction.Type.CHAINCODE_TERMINATE
}

const transactionRequest = z.strictObject({
  chaincode: z.string().min(1).max(256),
  payload: z.string().default(''),
  type: z.enum(TRANSACTION_TYPE_NAMES).default('invoke'),
  txid: z.string().min(1).max(256).optional()
})

// the schema parses exactly the request the client sends
const _sameRequest: z.input<typeof transactionRequest> extends TransactionRequest ? TransactionRequest extends z.input<typeof transactionRequest> ? true : never : never = true
void _sameRequest

export function adminRoutes (fabric: FabricPeer): Record<string, Route> {
  return {
    'GET /peers': (): PeersAnswer => ({
      self: row(fabric.getPeerEndpoint()),
      peers: fabric.getPeers().peers.map(row),
      discovery: fabric.discovery.size
    }),
    'POST /transactions': async (_req, body): Promise<TransactionAnswer> => {
      const parsed = transactionRequest.safeParse(body)

      if (!parsed.success) {
        throw new HttpError(400, `bad transaction request: ${parsed.error.issues.map(i => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`)
      }

      const { chaincode, payload, type, txid = randomUUID() } = parsed.data
      const encoder = new TextEncoder()
      const res = await fabric.processTransaction({
        type: TRANSACTION_TYPES[type],
        chaincodeID: encoder.encode(chaincode),
        payload: encoder.encode(payload),
        metadata: new Uint8Array(0),
        txid,
        nonce: crypto.getRandomValues(new Uint8Array(12)),
        cert: new Uint8Array(0),
        signature: new Uint8Array(0)
      })

      return { txid, status: res.status, message: responseText(res) }
    }
  }
}

function row (endpoint: PeerEndpoint): PeerRow {
  return { id: endpoint.ID?.name ?? '', address: endpoint.address, type: endpoint.type }
}
