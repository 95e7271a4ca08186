import { InvalidParametersError } from '@libp2p/interface'
import type { SecurityHelper } from './signing.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/** `security` options, shared by `fabricPeer()` and `fabricConnectionGater()` */
export interface SecurityInit {
  /**
   * Sign and verify every Chat message and transaction, and admit only
   * members (`security.enabled` in Fabric's core.yaml).
   *
   * @default false
   */
  enabled?: boolean

  /** PeerIds allowed in the network; unset means anyone (unless `isMember` says otherwise) */
  allowedPeers?: Array<PeerId | string>

  /** A membership check of your own, asked in addition to `allowedPeers` */
  isMember?(peerId: PeerId): boolean | Promise<boolean>

  /** PeerIds allowed to say they are validators; unset means any member may */
  validators?: Array<PeerId | string>

  /**
   * Reject signed messages and transactions whose timestamp is further than
   * this from our clock, in ms, and a transaction submitted again within it (a
   * replay): peers' clocks must agree within this window. The replay memory is
   * in memory only: after a restart, a transaction signed less than this long
   * ago can be accepted once more. 0 disables both checks.
   *
   * @default 60000 (MAX_MESSAGE_AGE_SECURE)
   */
  maxMessageAge?: number

  /**
   * Signs and verifies (Fabric's `crypto.Peer`); default: the node's libp2p key.
   * Peers check signatures against the node's libp2p public key (the pkiID in
   * its hello), so a custom helper - a remote signer, an HSM - must sign with
   * that key, synchronously.
   */
  helper?: SecurityHelper
}

/** Who may be in a permissioned network */
export class Membership {
  private readonly enabled: boolean
  private readonly allowed?: Set<string>
  private readonly validators?: Set<string>
  private readonly check?: (peerId: PeerId) => boolean | Promise<boolean>

  constructor (init: SecurityInit = {}) {
    this.enabled = init.enabled === true

    if (!this.enabled && (init.allowedPeers != null || init.isMember != null || init.validators != null)) {
      throw new InvalidParametersError('security.allowedPeers, isMember and validators only apply with security.enabled: true')
    }

    this.allowed = init.allowedPeers == null ? undefined : new Set(init.allowedPeers.map(String))
    this.validators = init.validators == null ? undefined : new Set(init.validators.map(String))
    this.check = init.isMember
  }

  /** Whether the peer may connect and chat; everyone when security is off */
  async isMember (peerId: PeerId): Promise<boolean> {
    if (!this.enabled) {
      return true
    }

    if (this.allowed != null && !this.allowed.has(peerId.toString())) {
      return false
    }

    try {
      return this.check == null || await this.check(peerId)
    } catch {
      // a membership service that cannot answer admits no one
      return false
    }
  }

  /** Whether the peer may say it is a validator */
  mayValidate (peerId: PeerId): boolean {
    return !this.enabled || this.validators == null || this.validators.has(peerId.toString())
  }
}

/**
 * A libp2p connection gater that refuses non-members before any protocol runs:
 * we do not dial them, and their connections are dropped as soon as the Noise
 * handshake has told us who they are. Give it the same `security` options as
 * the service:
 *
 * @example
 *
 * ```ts
 * const security = { enabled: true, allowedPeers: [...] }
 * createLibp2p({ connectionGater: fabricConnectionGater(security), services: { fabric: fabricPeer({ security }) } })
 * ```
 */
export function fabricConnectionGater (security: SecurityInit): ConnectionGater {
  const membership = new Membership(security)
  const deny = async (peerId: PeerId): Promise<boolean> => !(await membership.isMember(peerId))

  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny
  }
}
