import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, it } from 'node:test'
import { HelloMessage, Message, PeerEndpoint, Response, Transaction } from '../src/index.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('wire format', () => {
  // expected bytes written out by hand from Fabric v0.6's field numbers and enum values
  it('Message encodes with Fabric v0.6 field numbers and enum values', () => {
    const msg = Message.encode({
      type: Message.Type.CONSENSUS,
      timestamp: { seconds: 1, nanos: 2 },
      payload: Uint8Array.of(0xaa),
      signature: Uint8Array.of(0xbb)
    })
    // type=21 (field 1), timestamp (field 2: seconds=1, nanos=2), payload (3), signature (4)
    assert.equal(hex(msg), '0815' + '12040801' + '1002' + '1a01aa' + '2201bb')
    assert.equal(Message.decode(Uint8Array.of(0x08, 0x14)).type, Message.Type.RESPONSE)
  })

  it('HelloMessage, PeerEndpoint, Transaction and Response use the fixed numbers', () => {
    const hello = HelloMessage.encode({
      peerEndpoint: { ID: { name: 'p' }, address: 'a', type: PeerEndpoint.Type.NON_VALIDATOR, pkiID: Uint8Array.of(1) },
      blockchainInfo: { height: 3, currentBlockHash: new Uint8Array(0), previousBlockHash: new Uint8Array(0) }
    })
    assert.equal(hex(hello), '0a0d' + '0a03' + '0a0170' + '120161' + '1802' + '220101' + '1202' + '0803')

    const tx = Transaction.encode({
      type: Transaction.Type.CHAINCODE_INVOKE,
      txid: 't',
      nonce: Uint8Array.of(9),
      cert: Uint8Array.of(8),
      signature: Uint8Array.of(7)
    })
    assert.equal(hex(tx), '0802' + '2a0174' + '4a0109' + '5a0108' + '620107')

    assert.equal(hex(Response.encode({ status: Response.StatusCode.FAILURE, msg: Uint8Array.of(1) })), '08f403' + '120101')
  })

  it('an unknown message type is a decode error, not a crash', () => {
    assert.throws(() => Message.decode(Uint8Array.of(0x08, 0x63)), /Invalid enum value/)
  })

  it('npm run generate reproduces src/pb byte for byte', async () => {
    const out = await mkdtemp(join(tmpdir(), 'fabric-pb-'))

    try {
      await promisify(execFile)(process.execPath, ['protos/generate.mjs', out])
      assert.equal(await readFile(join(out, 'fabric.ts'), 'utf8'), await readFile('src/pb/fabric.ts', 'utf8'))
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })
})
