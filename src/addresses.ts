import { isIPv4, isIPv6 } from 'node:net'
import { InvalidParametersError } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** A peer to chat with: its PeerId (addresses from the peer store) or multiaddrs ending in `/p2p/<PeerId>` */
export type ChatTarget = PeerId | Multiaddr | Multiaddr[] | string

/** The text of the last `/p2p/<id>` in a multiaddr, if it has one (not checked to be a PeerId) */
export function p2pComponent (addr: Multiaddr): string | undefined {
  return addr.getComponents().findLast(c => c.name === 'p2p')?.value
}

/** The PeerId at the end of a multiaddr, if it names a valid one */
export function peerIdOf (addr: Multiaddr): PeerId | undefined {
  const id = p2pComponent(addr)

  try {
    return id == null ? undefined : peerIdFromString(id)
  } catch {
    return undefined
  }
}

/**
 * Why `text` is not a usable peer address (a multiaddr ending in
 * `/p2p/<PeerId>`), or undefined when it is. Used for root nodes by the
 * service and the CLI alike.
 */
export function peerAddressProblem (text: string): string | undefined {
  let id: string | undefined

  try {
    id = p2pComponent(multiaddr(text))
  } catch (err: any) {
    return `${JSON.stringify(text)} is not a multiaddr (${err.message}); expected one like /ip4/0.0.0.0/tcp/7051`
  }

  if (id == null) {
    return `${JSON.stringify(text)} does not end in /p2p/<PeerId>: a root node is named by its PeerId`
  }

  try {
    peerIdFromString(id)
  } catch (err: any) {
    return `${JSON.stringify(text)} has an invalid PeerId (${err.message})`
  }

  return undefined
}

/**
 * The peer a chat target names and what to dial: a PeerId as it is, or
 * addresses that all end in the same `/p2p/<PeerId>`.
 *
 * @throws {InvalidParametersError} for anything else
 */
export function resolveTarget (target: ChatTarget): { peerId: PeerId, dialTarget: PeerId | Multiaddr[] } {
  if (typeof target !== 'string' && !isMultiaddr(target) && !Array.isArray(target)) {
    return { peerId: target, dialTarget: target }
  }

  let addrs: Multiaddr[]
  let peerId: PeerId

  try {
    addrs = (Array.isArray(target) ? target : [target]).map(a => typeof a === 'string' ? multiaddr(a) : a)
    const ids = new Set(addrs.map(p2pComponent))

    if (ids.size !== 1 || ids.has(undefined)) {
      throw new Error('the addresses must all end in the same /p2p/<PeerId>')
    }

    peerId = peerIdFromString([...ids][0] as string)
  } catch (err: any) {
    throw new InvalidParametersError(`Cannot chat with ${String(target)}: ${err.message}`)
  }

  return { peerId, dialTarget: addrs }
}

/** Host components a peer may name for another node (or itself) */
const DIALABLE_HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * Why an address a peer gave us (gossip, or its own hello) must not enter the
 * discovery list, if it must not: only an IP or DNS host over TCP that one of
 * the node's transports dials (`/ip4|ip6|dns…/<host>/tcp/<port>[/…]/p2p/<id>`;
 * no `/unix/` socket, no `/memory/`), not an unspecified host
 * (0.0.0.0, ::) and not one of our own listen addresses - a peer must not
 * point us at a Unix socket, a local service on another port of ours, or
 * ourselves.
 */
export function peerGivenAddressProblem (addr: Multiaddr, own: Multiaddr[] = [], canDial?: (addr: Multiaddr) => boolean): string | undefined {
  const parts = addr.getComponents()
  const [host, port, ...rest] = parts
  // with the node's transports to ask, whatever they dial over an IP or DNS host; without, plain TCP
  const dialable = canDial == null ? rest.every(c => c.name === 'p2p') && rest.length <= 1 : canDial(addr)

  if (host == null || !DIALABLE_HOSTS.has(host.name) || port?.name !== 'tcp' || !dialable) {
    return `${addr.toString().slice(0, 200)} is not an address this node dials (an IP or DNS host, TCP, a transport it has)`
  }

  const canonical = canonicalHost(host.value ?? '')

  if (canonical === '0.0.0.0' || canonical === '::') {
    return `${addr.toString()} names no host`
  }

  for (const mine of own) {
    const [h, p] = mine.getComponents()

    if (h != null && p?.name === 'tcp' && p.value === port.value && canonicalHost(h.value ?? '') === canonical) {
      return `${addr.toString()} is one of this node's own addresses`
    }
  }

  return undefined
}

/**
 * A host as the address check compares it: every loopback address (127/8,
 * ::1, `localhost`) is one, an IPv4 address written inside IPv6 is that
 * IPv4 address, IPv6 is in its shortest form, DNS names are lower case.
 */
export function canonicalHost (host: string): string {
  let h = host.toLowerCase()

  if (h.startsWith('[') && h.endsWith(']')) {
    h = h.slice(1, -1)
  }

  const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h) ?? /^::(\d+\.\d+\.\d+\.\d+)$/.exec(h)

  if (mapped != null) {
    h = mapped[1]
  }

  if (isIPv4(h)) {
    const octets = h.split('.').map(Number)
    return octets[0] === 127 ? 'loopback' : octets.join('.')
  }

  if (isIPv6(h)) {
    const full = expandIPv6(h)

    if (full.startsWith('0000:0000:0000:0000:0000:ffff:')) {
      // an IPv4 address inside IPv6, in hex (::ffff:7f00:1)
      const [hi, lo] = full.split(':').slice(6).map(g => parseInt(g, 16))
      return canonicalHost(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`)
    }

    if (full === '0000:0000:0000:0000:0000:0000:0000:0001') return 'loopback'
    if (full === '0000:0000:0000:0000:0000:0000:0000:0000') return '::'
    return full
  }

  return h === 'localhost' || h.endsWith('.localhost') ? 'loopback' : h
}

/** An IPv6 address as 8 groups of 4 hex digits */
function expandIPv6 (h: string): string {
  const [head, tail] = h.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail == null || tail === '' ? [] : tail.split(':')
  const missing = tail == null ? 0 : 8 - left.length - right.length
  return [...left, ...Array(missing).fill('0'), ...right].map(g => g.padStart(4, '0')).join(':')
}
