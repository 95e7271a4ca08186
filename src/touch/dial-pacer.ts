import type { Multiaddr } from '@multiformats/multiaddr'

/** Hosts whose buckets are kept before full ones are swept */
const MAX_HOSTS = 4_096

/**
 * Token buckets for dials to nodes only gossip vouches for: `rate` a second
 * in all and `hostRate` a second to any one host, after a burst of `burst`
 * (in all) and `hostBurst` (to one host): a forming mesh learns a few dozen
 * nodes at once and dials them in the next tick, a flood is held to the rates.
 * Gossip names the addresses, so without this a peer could aim the node's
 * dials at a host of its choosing, as fast as the touch loop runs.
 */
export class DialPacer {
  private readonly rate: number
  private readonly hostRate: number
  private readonly burst: number
  private readonly hostBurst: number
  private total: Bucket
  private readonly hosts = new Map<string, Bucket>()

  constructor (rate: number, hostRate: number, burst = rate, hostBurst = hostRate) {
    this.rate = rate
    this.hostRate = hostRate
    this.burst = Math.max(1, burst)
    this.hostBurst = Math.max(1, hostBurst)
    this.total = { tokens: this.burst, at: 0 }
  }

  /** Take a dial to `address`'s host if both buckets allow one now */
  take (address: Multiaddr, now = Date.now()): boolean {
    const host = hostOf(address)
    const total = refill(this.total, this.rate, this.burst, now)
    const bucket = refill(this.hosts.get(host) ?? { tokens: this.hostBurst, at: now }, this.hostRate, this.hostBurst, now)

    if (total.tokens < 1 || bucket.tokens < 1) {
      return false
    }

    total.tokens--
    bucket.tokens--

    if (!this.hosts.has(host) && this.hosts.size >= MAX_HOSTS) {
      for (const [key, b] of this.hosts) {
        if (refill(b, this.hostRate, this.hostBurst, now).tokens >= this.hostBurst) this.hosts.delete(key)
      }
    }

    this.hosts.set(host, bucket)
    return true
  }
}

interface Bucket { tokens: number, at: number }

function refill (bucket: Bucket, rate: number, burst: number, now: number): Bucket {
  bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * rate / 1_000)
  bucket.at = now
  return bucket
}

/** The host part of an address (its first component's value: an IP address or a DNS name) */
export function hostOf (address: Multiaddr): string {
  const [first] = address.getComponents()
  return first?.value ?? address.toString()
}
