/**
 * Fabric v0.6 `core.yaml` keys (and their `CORE_*` variables) that do not
 * apply to a libp2p peer. A Fabric configuration names them; starting must
 * not fail on them, so each is accepted with one warning line saying why it
 * does not apply. Matched by the key or a section above it.
 */
const INAPPLICABLE: Array<[prefix: string, why: string]> = [
  ['peer.id', 'the identity is the key in the data directory (fabric-peer id prints its PeerId)'],
  ['peer.networkId', 'peers are told apart by PeerId; a permissioned network lists them in security.allowedPeers'],
  ['peer.addressAutoDetect', 'libp2p announces the addresses it listens on (peer.address / --announce overrides them)'],
  ['peer.gomaxprocs', 'a Go runtime setting'],
  ['peer.workers', 'a Go runtime setting'],
  ['peer.tls', 'Noise encrypts and authenticates every connection, always'],
  ['peer.pki', 'members are libp2p keys (security.allowedPeers), not Fabric certificates'],
  ['peer.sync', 'state transfer is the engine\'s, over RemoteLedger'],
  ['peer.events', 'there is no event hub; the library emits events, the admin API serves the peers'],
  ['peer.profile', 'a Go profiling endpoint'],
  ['peer.validator.consensus.plugin', 'the CLI runs the noops reference engine; another engine is composed in code'],
  ['peer.validator.events', 'there is no event hub'],
  ['peer.gossip', 'Fabric 1.x gossip; discovery here is Fabric v0.6\'s (peer.discovery.*)'],
  ['peer.committer', 'Fabric 1.x; not in v0.6\'s peer'],
  ['peer.mspConfigPath', 'members are libp2p keys (security.allowedPeers), not an MSP'],
  ['logging', 'logs are debug(\'libp2p:fabric*\'): set DEBUG=libp2p:fabric* (DEBUG=libp2p:* for libp2p too)'],
  ['vm', 'there is no chaincode runtime here'],
  ['chaincode', 'there is no chaincode runtime here'],
  ['rest', 'the admin API (peer.admin.address) replaces the REST service'],
  ['cli', 'fabric-peer talks to a node through its admin API'],
  ['ledger', 'the ledger lives in the data directory\'s LevelDB'],
  ['statetransfer', 'state transfer is the engine\'s, over RemoteLedger'],
  ['security.enrollID', 'members are libp2p keys, not enrolled with a membership service'],
  ['security.enrollSecret', 'members are libp2p keys, not enrolled with a membership service'],
  ['security.level', 'keys are the libp2p key types (Ed25519 by default)'],
  ['security.hashAlgorithm', 'signatures are the libp2p key\'s'],
  ['security.privacy', 'no confidential transactions'],
  ['security.tcert', 'no transaction certificates'],
  ['security.attributes', 'no attribute certificates'],
  ['security.multichain', 'one network per node'],
  ['security.ecert', 'no enrollment certificates'],
  ['security.tls', 'Noise encrypts and authenticates every connection, always'],
  ['security.client', 'members are libp2p keys'],
  ['pki', 'members are libp2p keys (security.allowedPeers), not Fabric certificates'],
  ['eca', 'no membership service here'],
  ['tca', 'no membership service here'],
  ['tlsca', 'no membership service here'],
  ['aca', 'no membership service here'],
  ['server', 'the membership service\'s; none here'],
  ['ports', 'the membership service\'s; none here']
]

/** Why a Fabric key does not apply here, or undefined if it is not one of those */
export function inapplicable (key: string): string | undefined {
  const lower = key.toLowerCase()

  for (const [prefix, why] of INAPPLICABLE) {
    const p = prefix.toLowerCase()

    if (lower === p || lower.startsWith(`${p}.`)) {
      return why
    }
  }

  return undefined
}

/** Why a `CORE_*` variable names an inapplicable Fabric key, or undefined (viper's names: CORE_ + the key upper-cased, `.` as `_`) */
export function inapplicableEnv (name: string): string | undefined {
  const upper = name.toUpperCase()

  for (const [prefix, why] of INAPPLICABLE) {
    const p = `CORE_${prefix.toUpperCase().replaceAll('.', '_')}`

    if (upper === p || upper.startsWith(`${p}_`)) {
      return why
    }
  }

  return undefined
}

/** The closest of `names` to `name` by edit distance, if it is close (at most 3 edits, and under a third of the name) */
export function closest (name: string, names: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity

  for (const candidate of names) {
    const d = distance(name.toUpperCase(), candidate.toUpperCase())

    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }

  return bestDistance <= Math.min(3, Math.floor(name.length / 3)) ? best : undefined
}

function distance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)

  for (let i = 1; i <= a.length; i++) {
    const current = [i]

    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    previous = current
  }

  return previous[b.length]
}
