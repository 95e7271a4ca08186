import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { sha256Of } from '../../ledger.js'
import { Transaction, StateDelta } from '../../pb/fabric.js'
import type { Block, StateEntry } from '../../pb/fabric.js'

const text = new TextDecoder('utf-8', { fatal: true })
const utf8 = new TextEncoder()

/**
 * The reference engine's chaincode: a key-value store per chaincode name.
 * An invoke (or deploy) whose payload is UTF-8 text `key=value` sets
 * `<chaincode>/<key>` to `value`; any other payload is stored whole under
 * `<chaincode>/<txid>`. A query's payload is a key, read from the world
 * state. Terminate changes nothing. Deterministic, so every validator that
 * executes the same block writes the same delta.
 */
export function stateKeyOf (tx: Transaction, key: string): string {
  return `${chaincodeName(tx)}/${key}`
}

/** What a block's transactions write, in order; a later write to a key wins */
export function executeBlock (block: Block): StateDelta {
  const writes = new Map<string, StateEntry>()

  for (const tx of block.transactions) {
    if (tx.type !== Transaction.Type.CHAINCODE_INVOKE && tx.type !== Transaction.Type.CHAINCODE_DEPLOY) {
      continue
    }

    const pair = keyValue(tx.payload)
    const key = stateKeyOf(tx, pair?.key ?? tx.txid)
    writes.set(key, { key, value: (pair?.value ?? tx.payload) as Uint8Array<ArrayBuffer>, deleted: false })
  }

  return { entries: [...writes.values()] }
}

/**
 * The state hash a block carries: SHA-256 over the previous block's state
 * hash and this block's delta, a chain like the blocks' own. A validator that
 * executes a block and gets another hash holds a block its sequencer did not
 * make (or a chaincode that is not deterministic).
 */
export async function stateHashOf (previous: Uint8Array, delta: StateDelta): Promise<Uint8Array> {
  return sha256Of(uint8ArrayConcat([previous, StateDelta.encode(delta)]))
}

function chaincodeName (tx: Transaction): string {
  try {
    return text.decode(tx.chaincodeID)
  } catch {
    return uint8ArrayToString(tx.chaincodeID, 'base16')
  }
}

function keyValue (payload: Uint8Array): { key: string, value: Uint8Array } | undefined {
  // most payloads are not `key=value` text: find out without decoding (or throwing)
  const at = payload.indexOf(0x3d)

  if (at <= 0) {
    return undefined
  }

  let s: string

  try {
    s = text.decode(payload)
  } catch {
    return undefined
  }

  const eq = s.indexOf('=')
  return eq <= 0 ? undefined : { key: s.slice(0, eq), value: utf8.encode(s.slice(eq + 1)) }
}

/** The key a query asks for: its payload as text */
export function queryKey (tx: Transaction): string | undefined {
  try {
    const key = text.decode(tx.payload)
    return key.length > 0 ? key : undefined
  } catch {
    return undefined
  }
}
