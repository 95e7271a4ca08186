import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { p2pComponent } from './addresses.js'
import { PeerRejectedError } from './errors.js'
import { PeerEndpoint } from './pb/fabric.js'
import type { PeerId, PublicKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Our own endpoint as sent in DISC_HELLO and DISC_PEERS. The address is the
 * configured one, else the first address the node listens on or announces
 * (already ending in `/p2p/<id>`), else empty for a node that cannot be dialed.
 */
export function selfEndpoint (peerId: PeerId, publicKey: PublicKey, addresses: Multiaddr[], validator: boolean, address?: string): PeerEndpoint {
  return {
    ID: { name: peerId.toString() },
    address: address ?? addresses[0]?.toString() ?? '',
    type: validator ? PeerEndpoint.Type.VALIDATOR : PeerEndpoint.Type.NON_VALIDATOR,
    pkiID: publicKeyToProtobuf(publicKey) as Uint8Array<ArrayBuffer>
  }
}

/**
 * Check the endpoint in a peer's hello against the connection's authenticated
 * remote peer. Returns the endpoint to record (with `pkiID` filled in from the
 * connection when the peer left it out).
 *
 * @throws {PeerRejectedError} with the reason, when the hello claims an identity that is not the peer's
 */
export function checkHelloEndpoint (endpoint: PeerEndpoint | undefined, remotePeer: PeerId): PeerEndpoint {
  if (endpoint?.ID == null) {
    throw new PeerRejectedError('hello has no peer endpoint')
  }

  const remote = remotePeer.toString()

  if (endpoint.ID.name !== remote) {
    throw new PeerRejectedError(`hello claims PeerId ${endpoint.ID.name.slice(0, 64)} but the connection is from ${remote}`)
  }

  let pkiID = endpoint.pkiID

  if (pkiID.byteLength > 0) {
    let owner: PeerId

    try {
      owner = peerIdFromPublicKey(publicKeyFromProtobuf(pkiID))
    } catch {
      throw new PeerRejectedError('hello pkiID is not a valid public key')
    }

    if (!owner.equals(remotePeer)) {
      throw new PeerRejectedError(`hello pkiID is the key of ${owner}, not of ${remote}`)
    }
  } else if (remotePeer.publicKey != null) {
    pkiID = publicKeyToProtobuf(remotePeer.publicKey) as Uint8Array<ArrayBuffer>
  }

  if (endpoint.address !== '') {
    let addressPeer: string | undefined

    try {
      addressPeer = p2pComponent(multiaddr(endpoint.address))
    } catch {
      throw new PeerRejectedError('hello address is not a multiaddr')
    }

    if (addressPeer !== remote) {
      throw new PeerRejectedError(`hello address ${endpoint.address.slice(0, 256)} does not end in /p2p/${remote}`)
    }
  }

  return { ID: { name: remote }, address: endpoint.address, type: endpoint.type, pkiID }
}
