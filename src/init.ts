import { InvalidParametersError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { peerAddressProblem } from './addresses.js'
import * as c from './constants.js'
import { MemoryLedger } from './ledger.js'
import type { Engine, FabricPeerInit, HandlerFactory } from './index.js'
import type { Ledger } from './ledger.js'
import type { SecurityInit } from './security/membership.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The longest delay, in ms, a Node timer takes: a longer one fires after 1 ms,
 * so a periodic task would spin.
 */
export const MAX_DELAY = 2 ** 31 - 1

/** How a numeric option is bounded */
export interface OptionBound {
  /** The smallest value allowed; with `exclusive`, values must be above it */
  min: number
  exclusive?: boolean
  /** Whole numbers only */
  integer?: boolean
  /** A time in ms: at most MAX_DELAY */
  ms?: boolean
  /** What -1 means, where it is allowed */
  minusOne?: string
}

const POSITIVE_MS: OptionBound = { min: 0, exclusive: true, ms: true }
const NON_NEGATIVE_MS: OptionBound = { min: 0, ms: true }
const POSITIVE: OptionBound = { min: 0, exclusive: true }

/**
 * The bounds of every numeric `fabricPeer` option: the service checks them,
 * and the CLI checks its configuration keys against the same table.
 */
export const OPTION_BOUNDS = {
  transactionTimeout: POSITIVE_MS,
  discoveryPeriod: POSITIVE_MS,
  helloTimeout: POSITIVE_MS,
  dialTimeout: POSITIVE_MS,
  sendStallTimeout: POSITIVE_MS,
  dialBackoffInitial: POSITIVE_MS,
  dialBackoffMax: POSITIVE_MS,
  expireAfter: POSITIVE_MS,
  touchPeriod: NON_NEGATIVE_MS,
  persistDelay: NON_NEGATIVE_MS,
  'security.maxMessageAge': NON_NEGATIVE_MS,
  maxMessageSize: POSITIVE,
  sendQueueSize: POSITIVE,
  sendQueueBytes: POSITIVE,
  receiveQueueSize: POSITIVE,
  maxInboundStreams: POSITIVE,
  maxOutboundStreams: POSITIVE,
  maxPeersPerMessage: POSITIVE,
  maxDiscoveryEntries: POSITIVE,
  touchConcurrency: POSITIVE,
  minValidators: POSITIVE,
  maxMessagesPerSecond: POSITIVE,
  discoveryFanout: { min: -1, integer: true, minusOne: 'every chat' },
  touchMaxNodes: { min: -1, integer: true, minusOne: 'unlimited' }
} satisfies Record<string, OptionBound>

export type NumericOption = keyof typeof OPTION_BOUNDS

/** A value outside its option's bounds: `range` (below the minimum, not whole, not a number) or `max` (a time over MAX_DELAY) */
export interface OptionProblem {
  option: NumericOption
  kind: 'range' | 'max'
  bound: OptionBound
  /** The rule, phrased for a library user: `must be a positive number, got 0` */
  message: string
}

/** Why `value` is not allowed for `option`, or undefined when it is */
export function optionProblem (option: NumericOption, value: number): OptionProblem | undefined {
  const bound: OptionBound = OPTION_BOUNDS[option]
  const inRange = Number.isFinite(value) &&
    (bound.exclusive === true ? value > bound.min : value >= bound.min) &&
    (bound.integer !== true || Number.isInteger(value))

  if (!inRange) {
    return { option, kind: 'range', bound, message: `${describeRange(bound)}, got ${value}` }
  }

  if (bound.ms === true && value > MAX_DELAY) {
    return { option, kind: 'max', bound, message: `must be at most ${MAX_DELAY} (ms, the longest delay a Node timer takes), got ${value}` }
  }

  return undefined
}

/** The range rule in words: `must be a positive number`, `must be 0 or more`, `must be -1 (unlimited) or a whole number >= 0` */
export function describeRange (bound: OptionBound): string {
  if (bound.minusOne != null) {
    return `must be -1 (${bound.minusOne}) or a whole number >= 0`
  }

  if (bound.exclusive === true && bound.min === 0) {
    return 'must be a positive number'
  }

  return `must be ${bound.min} or more`
}

/** Every option of `fabricPeer(init)` with its default applied and its bounds checked */
export interface ResolvedInit {
  validator: boolean
  address?: string
  ledger: Ledger
  engine?: Engine
  handlerFactory?: HandlerFactory
  rootNodes: Multiaddr[]
  persist: boolean
  security: SecurityInit & { enabled: boolean, maxMessageAge: number }
  transactionTimeout: number
  discoveryPeriod: number
  helloTimeout: number
  dialTimeout: number
  sendStallTimeout: number
  dialBackoffInitial: number
  dialBackoffMax: number
  expireAfter: number
  touchPeriod: number
  persistDelay: number
  maxMessageSize: number
  sendQueueSize: number
  sendQueueBytes: number
  receiveQueueSize: number
  maxInboundStreams: number
  maxOutboundStreams: number
  maxPeersPerMessage: number
  maxDiscoveryEntries: number
  touchConcurrency: number
  minValidators: number
  maxMessagesPerSecond: number
  discoveryFanout: number
  touchMaxNodes: number
}

/**
 * Apply the defaults from `constants.ts` and check every option.
 *
 * @throws {InvalidParametersError} naming the first option that is out of bounds
 */
export function resolveInit (init: FabricPeerInit = {}): ResolvedInit {
  if (init.engine != null && init.handlerFactory != null) {
    throw new InvalidParametersError('Give fabricPeer an engine or a handlerFactory, not both')
  }

  if (init.address != null) {
    try {
      multiaddr(init.address)
    } catch {
      throw new InvalidParametersError(`fabricPeer address ${init.address} is not a multiaddr`)
    }
  }

  const enabled = init.security?.enabled === true
  const number = (option: NumericOption, value: number | undefined, fallback: number): number => {
    if (value == null) {
      return fallback
    }

    const problem = optionProblem(option, value)

    if (problem != null) {
      throw new InvalidParametersError(`fabricPeer ${option} ${problem.message}`)
    }

    return value
  }

  return {
    validator: init.validator ?? c.VALIDATOR,
    address: init.address,
    ledger: init.ledger ?? new MemoryLedger(),
    engine: init.engine,
    handlerFactory: init.engine?.getHandlerFactory() ?? init.handlerFactory,
    rootNodes: parseRootNodes(init.rootNodes),
    persist: init.persist ?? c.PERSIST,
    security: {
      ...init.security,
      enabled,
      maxMessageAge: number('security.maxMessageAge', init.security?.maxMessageAge, enabled ? c.MAX_MESSAGE_AGE_SECURE : 0)
    },
    transactionTimeout: number('transactionTimeout', init.transactionTimeout, c.TRANSACTION_TIMEOUT),
    discoveryPeriod: number('discoveryPeriod', init.discoveryPeriod, c.DISCOVERY_PERIOD),
    helloTimeout: number('helloTimeout', init.helloTimeout, c.HELLO_TIMEOUT),
    dialTimeout: number('dialTimeout', init.dialTimeout, c.DIAL_TIMEOUT),
    sendStallTimeout: number('sendStallTimeout', init.sendStallTimeout, c.SEND_STALL_TIMEOUT),
    dialBackoffInitial: number('dialBackoffInitial', init.dialBackoffInitial, c.DIAL_BACKOFF_INITIAL),
    dialBackoffMax: number('dialBackoffMax', init.dialBackoffMax, c.DIAL_BACKOFF_MAX),
    expireAfter: number('expireAfter', init.expireAfter, c.EXPIRE_AFTER),
    touchPeriod: number('touchPeriod', init.touchPeriod, c.TOUCH_PERIOD),
    persistDelay: number('persistDelay', init.persistDelay, c.PERSIST_DELAY),
    maxMessageSize: number('maxMessageSize', init.maxMessageSize, c.MAX_MESSAGE_SIZE),
    sendQueueSize: number('sendQueueSize', init.sendQueueSize, c.SEND_QUEUE_SIZE),
    sendQueueBytes: number('sendQueueBytes', init.sendQueueBytes, c.SEND_QUEUE_BYTES),
    receiveQueueSize: number('receiveQueueSize', init.receiveQueueSize, c.RECEIVE_QUEUE_SIZE),
    maxInboundStreams: number('maxInboundStreams', init.maxInboundStreams, c.MAX_INBOUND_CHAT_STREAMS),
    maxOutboundStreams: number('maxOutboundStreams', init.maxOutboundStreams, c.MAX_OUTBOUND_CHAT_STREAMS),
    maxPeersPerMessage: number('maxPeersPerMessage', init.maxPeersPerMessage, c.MAX_PEERS_PER_MESSAGE),
    maxDiscoveryEntries: number('maxDiscoveryEntries', init.maxDiscoveryEntries, c.MAX_DISCOVERY_ENTRIES),
    touchConcurrency: number('touchConcurrency', init.touchConcurrency, c.TOUCH_CONCURRENCY),
    minValidators: number('minValidators', init.minValidators, c.MIN_VALIDATORS),
    maxMessagesPerSecond: number('maxMessagesPerSecond', init.maxMessagesPerSecond, enabled ? c.MAX_MESSAGES_PER_SECOND_SECURE : c.MAX_MESSAGES_PER_SECOND),
    discoveryFanout: number('discoveryFanout', init.discoveryFanout, c.DISCOVERY_FANOUT),
    touchMaxNodes: number('touchMaxNodes', init.touchMaxNodes, c.TOUCH_MAX_NODES)
  }
}

/** Root nodes as an array or Fabric's comma-separated string; each must end in /p2p/<PeerId> */
function parseRootNodes (rootNodes: string | string[] | undefined): Multiaddr[] {
  const list = typeof rootNodes === 'string' ? rootNodes.split(',') : rootNodes ?? []

  return list.map(s => s.trim()).filter(s => s !== '').map(s => {
    const problem = peerAddressProblem(s)

    if (problem != null) {
      throw new InvalidParametersError(`fabricPeer rootNodes: ${problem}`)
    }

    return multiaddr(s)
  })
}
