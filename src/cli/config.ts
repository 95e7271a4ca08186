/**
 * The CLI's configuration: Fabric's `core.yaml` keys (plus a few of ours),
 * overridden by `CORE_*` environment variables, then by flags, and validated
 * as one flat object by a zod schema so every problem names its key and the
 * source of the bad value.
 */

import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { peerAddressProblem } from '../addresses.js'
import { describeRange, MAX_DELAY, optionProblem } from '../init.js'
import { ConfigError, describeSource } from './errors.js'
import { closest, inapplicable, inapplicableEnv } from './fabric-keys.js'
import type { NumericOption } from '../init.js'
import type { ConfigIssue, ConfigSource } from './errors.js'

/** A `host:port` for the admin and metrics endpoints */
export interface HostPort {
  host: string
  port: number
}

/** The validated configuration of `fabric-peer node start` and the commands that talk to it */
export interface PeerConfig {
  /** The data directory: LevelDB datastore and the node's key */
  dataDir: string
  listen: string[]
  announce: string[]
  validator: boolean
  rootNodes: string[]
  /** ms */
  discoveryPeriod: number
  persist: boolean
  /** ms, 0 disables the touch loop */
  touchPeriod: number
  touchMaxNodes: number
  minValidators: number
  sendQueueSize: number
  /** undefined: off */
  admin?: HostPort
  /** undefined: off */
  metrics?: HostPort
  security: {
    enabled: boolean
    allowedPeers?: string[]
    validators?: string[]
    /** ms, 0 disables the check */
    maxMessageAge: number
  }
  /** Fabric keys given that do not apply here: one line each, for the operator */
  warnings: string[]
}

/** A value given for a key, and where it came from */
export interface ConfigValue {
  value: unknown
  source: ConfigSource
}

/** Where the configuration comes from, lowest precedence first */
export interface ConfigInput {
  /** A core.yaml to read */
  file?: string
  /** The environment (`CORE_*` variables are read) */
  env?: NodeJS.ProcessEnv
  /** Values from flags, by key */
  flags?: Record<string, ConfigValue>
}

/** Every key: its schema, default and meaning. Env name: `CORE_` + the key upper-cased with `_` for `.` */
export interface ConfigKey {
  key: string
  default: unknown
  /** The default as shown to people, when `default` does not say it well */
  shownDefault?: string
  flag?: string
  describe: string
  schema: z.ZodType
}

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, 1: true, 0: false }

const boolean = z.preprocess(
  v => typeof v === 'string' ? BOOLEAN_WORDS[v.trim().toLowerCase()] ?? v : v,
  z.boolean({ error: 'expected true or false' })
)

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/**
 * Go's time.ParseDuration format, as Fabric's core.yaml uses (`5s`, `500ms`,
 * `1m30s`). As in Go, a bare number is not a duration, except 0: `6` meant
 * as seconds must not silently be 6 ms.
 */
export function parseDuration (text: string): number | undefined {
  const trimmed = text.trim()

  if (/^0+(\.0+)?$/.test(trimmed)) {
    return 0
  }

  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) {
    return undefined
  }

  let total = 0

  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * DURATION_UNITS[unit]
  }

  return Math.round(total)
}

/**
 * A time in ms for a `fabricPeer` option, bounded by the service's own rules
 * (OPTION_BOUNDS): the CLI phrases them, it does not restate them.
 */
function duration (option: NumericOption): z.ZodType<number> {
  return z.union([z.number(), z.string()], { error: 'expected a duration like 5s, 500ms or 1m30s' })
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? (v === 0 ? 0 : undefined) : parseDuration(v)

      if (ms == null || !Number.isFinite(ms)) {
        const bare = typeof v === 'number' || /^\s*\d+(\.\d+)?\s*$/.test(v)
        ctx.addIssue({
          code: 'custom',
          message: bare
            ? `${JSON.stringify(v)} is not a duration: a bare number is none in Fabric's (Go's) syntax, only 0 is; write ${String(v).trim()}s or ${String(v).trim()}ms`
            : `${JSON.stringify(v)} is not a duration: expected one like 5s, 500ms or 1m30s`
        })
        return z.NEVER
      }

      return withinBounds(option, ms, v, ctx)
    })
}

/** A whole number for a `fabricPeer` option, bounded by the service's own rules */
function integer (option: NumericOption): z.ZodType<number> {
  return z.preprocess(
    v => typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v,
    z.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' })
      .transform((n, ctx) => withinBounds(option, n, n, ctx))
  )
}

function withinBounds (option: NumericOption, value: number, given: unknown, ctx: z.RefinementCtx): number {
  const problem = optionProblem(option, value)

  if (problem == null) {
    return value
  }

  ctx.addIssue({
    code: 'custom',
    message: problem.kind === 'max'
      ? `must be at most ${MAX_DELAY}ms (about 24.8 days, the longest delay a Node timer takes), got ${JSON.stringify(given)}`
      : `${describeRange(problem.bound)}, got ${JSON.stringify(given)}`
  })
  return z.NEVER
}

/** A list: a YAML sequence, or a comma-separated string (Fabric's rootnode, env and flags); `needed`: the message when it is empty */
function list<T extends z.ZodType> (item: T, needed?: string): z.ZodType<Array<z.output<T>>> {
  const array = z.array(item, { error: 'expected a list (a YAML sequence or a comma-separated string)' })

  return z.preprocess(
    v => typeof v === 'string' ? v.split(',').map(s => s.trim()).filter(s => s !== '') : v,
    needed == null ? array : array.min(1, { error: needed })
  )
}

/**
 * Fabric's `host:port` (`0.0.0.0:7051`, `vp0:7051`, `[::1]:7051`) as the
 * multiaddr it means: TCP to that IP address or DNS name. Anything else is
 * left as it is, for the multiaddr check.
 */
export function fromHostPort (text: string): string {
  const match = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^:/\s]+)):(\d{1,5})\s*$/.exec(text)

  if (match == null) {
    return text
  }

  const host = match[1] ?? match[2]
  const kind = isIP(host)
  return `/${kind === 4 ? 'ip4' : kind === 6 ? 'ip6' : 'dns4'}/${host}/tcp/${match[3]}`
}

const hostPortOrMultiaddr = z.preprocess(v => typeof v === 'string' ? fromHostPort(v) : v, z.string({ error: 'expected a multiaddr string' }))

const multiaddrString = hostPortOrMultiaddr.superRefine((v, ctx) => {
  try {
    multiaddr(v)
  } catch (err: any) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a multiaddr (${err.message}); expected one like /ip4/0.0.0.0/tcp/7051` })
  }
})

/**
 * A root node: a multiaddr ending in /p2p/<PeerId>, as the service checks
 * them, or (as Fabric named them) an address without one, `host:port` or a
 * multiaddr: the node dials it and learns its PeerId in the handshake.
 */
const peerAddress = hostPortOrMultiaddr.superRefine((v, ctx) => {
  let hasId = false

  try {
    hasId = multiaddr(v).getComponents().some(c => c.name === 'p2p')
  } catch {
    // the check below says what is wrong
  }

  const problem = hasId ? peerAddressProblem(v) : multiaddrProblem(v)

  if (problem != null) {
    ctx.addIssue({ code: 'custom', message: problem })
  }
})

function multiaddrProblem (v: string): string | undefined {
  try {
    multiaddr(v)
    return undefined
  } catch (err: any) {
    return `${JSON.stringify(v)} is not a multiaddr (${err.message}); expected one like /ip4/0.0.0.0/tcp/7051, or host:port`
  }
}

const peerIdString = z.string({ error: 'expected a PeerId' }).superRefine((v, ctx) => {
  try {
    peerIdFromString(v)
  } catch (err: any) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a PeerId (${err.message})` })
  }
})

/** `host:port`; an IPv6 host in brackets. `off` or an empty string: none */
function hostPort (loopbackOnly: boolean): z.ZodType<HostPort | undefined> {
  return z.string({ error: 'expected host:port, e.g. 127.0.0.1:7050' }).transform((v, ctx) => {
    const text = v.trim()

    if (text === '' || text === 'off') {
      return undefined
    }

    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text)
    const host = match?.[1] ?? match?.[2]
    const port = Number(match?.[3])

    if (match == null || host == null || port > 65535 || (isIP(host) === 0 && host !== 'localhost')) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not host:port with an IP address or localhost, e.g. 127.0.0.1:7050` })
      return z.NEVER
    }

    if (loopbackOnly && !isLoopback(host)) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a loopback address: the admin API has no authentication, so it listens on 127.0.0.1, ::1 or localhost only` })
      return z.NEVER
    }

    return { host, port }
  })
}

const nonEmptyString = z.string({ error: 'expected a string' }).min(1, { error: 'must not be empty' })

/** The keys, in the order the README and `--help` list them */
export const CONFIG_KEYS: ConfigKey[] = [
  { key: 'peer.fileSystemPath', default: './data/peer', flag: '--data', describe: 'data directory: LevelDB datastore, the node\'s key, discovery list, ledger', schema: nonEmptyString },
  { key: 'peer.listenAddress', default: '/ip4/0.0.0.0/tcp/7051', flag: '--listen', describe: 'multiaddrs to listen on (comma-separated)', schema: list(multiaddrString, 'must list at least one multiaddr: a node that listens nowhere cannot be dialed') },
  { key: 'peer.address', default: '', shownDefault: '(the listen addresses)', flag: '--announce', describe: 'multiaddrs other peers should dial (announced)', schema: list(multiaddrString) },
  { key: 'peer.validator.enabled', default: true, flag: '--validator / --non-validator', describe: 'validator (runs the noops engine) or non-validator', schema: boolean },
  { key: 'peer.validator.consensus.buffersize', default: 1000, describe: 'frames that may wait in one peer\'s send queue', schema: integer('sendQueueSize') },
  { key: 'peer.discovery.rootnode', default: '', shownDefault: '(none)', flag: '--root-node', describe: 'root nodes (comma-separated): multiaddrs ending in /p2p/<PeerId>, or host:port (the PeerId is learned when dialed)', schema: list(peerAddress) },
  { key: 'peer.discovery.period', default: '5s', describe: 'how often each chat is asked for its peers', schema: duration('discoveryPeriod') },
  { key: 'peer.discovery.persist', default: true, describe: 'keep the discovery list in the data directory', schema: boolean },
  { key: 'peer.discovery.touchPeriod', default: '6s', describe: 'how often missing peers are dialed (0 disables)', schema: duration('touchPeriod') },
  { key: 'peer.discovery.touchMaxNodes', default: 100, describe: 'most dials per touch (-1 unlimited)', schema: integer('touchMaxNodes') },
  { key: 'peer.discovery.minValidators', default: 2, describe: 'validators a non-validator keeps chats with', schema: integer('minValidators') },
  { key: 'peer.admin.address', default: '127.0.0.1:7050', flag: '--admin', describe: 'local admin API for `network list` and `tx submit` (loopback only; off disables)', schema: hostPort(true) },
  { key: 'peer.metrics.address', default: '', shownDefault: '(off)', flag: '--metrics', describe: 'serve Prometheus metrics at http://HOST:PORT/metrics', schema: hostPort(false) },
  { key: 'security.enabled', default: false, describe: 'sign and verify every message and transaction', schema: boolean },
  { key: 'security.allowedPeers', default: '', shownDefault: '(anyone)', describe: 'PeerIds allowed in the network (with security.enabled)', schema: list(peerIdString) },
  { key: 'security.validators', default: '', shownDefault: '(any member)', describe: 'PeerIds allowed to be validators (with security.enabled)', schema: list(peerIdString) },
  { key: 'security.maxMessageAge', default: '60s', shownDefault: '60s (0: off)', describe: 'with security.enabled: reject signed messages further than this from our clock, and replayed transactions within it (peers\' clocks must agree within it)', schema: duration('security.maxMessageAge') }
]

const KEYS = new Map(CONFIG_KEYS.map(k => [k.key, k]))

/** `CORE_PEER_DISCOVERY_ROOTNODE` for `peer.discovery.rootnode`, as Fabric's viper names them */
export function envName (key: string): string {
  return `CORE_${key.toUpperCase().replaceAll('.', '_')}`
}

const ENV_KEYS = new Map(CONFIG_KEYS.map(k => [envName(k.key), k.key]))

const KNOWN_KEYS = new Set(CONFIG_KEYS.map(k => k.key))

const SCHEMA = z.strictObject(Object.fromEntries(CONFIG_KEYS.map(k => [k.key, k.schema])))

/**
 * Merge core.yaml < `CORE_*` env < flags over the defaults and validate the
 * result.
 *
 * @throws {ConfigError} naming every bad key and where its value came from
 */
export async function loadConfig (input: ConfigInput = {}): Promise<PeerConfig> {
  const values = new Map<string, ConfigValue>()
  const issues: ConfigIssue[] = []

  for (const k of CONFIG_KEYS) {
    values.set(k.key, { value: k.default, source: { kind: 'default' } })
  }

  const warnings: string[] = []

  if (input.file != null) {
    try {
      for (const [key, value] of flatten(await readYaml(input.file), input.file)) {
        const why = KNOWN_KEYS.has(key) ? undefined : inapplicable(key)

        if (why != null) {
          // a Fabric key with no meaning here: said once, never fatal
          warnings.push(`${key} (from ${describeSource({ kind: 'file', file: input.file })}) does not apply here, ignored: ${why}`)
          continue
        }

        values.set(key, { value, source: { kind: 'file', file: input.file } })
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        throw err
      }

      // reported with whatever env and flags get wrong too
      issues.push(...err.issues)
    }
  }

  for (const [name, value] of Object.entries(input.env ?? {})) {
    // an empty variable is unset, as viper treats it: it does not override the file
    if (!name.startsWith('CORE_') || value == null || value === '') {
      continue
    }

    const key = ENV_KEYS.get(name)
    const why = key == null ? inapplicableEnv(name) : undefined

    if (why != null) {
      warnings.push(`${name} does not apply here, ignored: ${why}`)
    } else if (key == null) {
      const near = closest(name, ENV_KEYS.keys())
      issues.push({ source: { kind: 'env', name }, message: near != null ? `unknown setting (did you mean ${near}?)` : 'unknown setting: no configuration key is named so (fabric-peer node start --help lists the CORE_* names)' })
    } else {
      values.set(key, { value, source: { kind: 'env', name } })
    }
  }

  for (const [key, value] of Object.entries(input.flags ?? {})) {
    values.set(key, value)
  }

  const raw = Object.fromEntries([...values].map(([key, { value }]) => [key, value]))
  const parsed = SCHEMA.safeParse(raw)

  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          issues.push({ key, source: values.get(key)?.source ?? { kind: 'default' }, message: unknownKeyMessage(key) })
        }
      } else {
        const key = String(issue.path[0])
        const item = issue.path.length > 1 ? `item ${Number(issue.path[1]) + 1}: ` : ''
        const given = issue.code === 'invalid_type' && issue.path.length === 1 ? `, got ${describeValue(raw[key])}` : ''
        issues.push({ key, source: values.get(key)?.source ?? { kind: 'default' }, message: item + issue.message + given })
      }
    }
  }

  if (issues.length > 0 || !parsed.success) {
    throw new ConfigError(issues)
  }

  const c = parsed.data as Record<string, any>
  const security = {
    enabled: c['security.enabled'] as boolean,
    allowedPeers: nonEmpty(c['security.allowedPeers']),
    validators: nonEmpty(c['security.validators']),
    maxMessageAge: c['security.maxMessageAge'] as number
  }

  if (!security.enabled) {
    for (const key of ['security.allowedPeers', 'security.validators']) {
      if (nonEmpty(c[key]) != null) {
        issues.push({ key, source: values.get(key)?.source ?? { kind: 'default' }, message: 'only applies with security.enabled: true' })
      }
    }
  }

  if (issues.length > 0) {
    throw new ConfigError(issues)
  }

  return {
    dataDir: c['peer.fileSystemPath'],
    listen: c['peer.listenAddress'],
    announce: c['peer.address'],
    validator: c['peer.validator.enabled'],
    sendQueueSize: c['peer.validator.consensus.buffersize'],
    rootNodes: c['peer.discovery.rootnode'],
    discoveryPeriod: c['peer.discovery.period'],
    persist: c['peer.discovery.persist'],
    touchPeriod: c['peer.discovery.touchPeriod'],
    touchMaxNodes: c['peer.discovery.touchMaxNodes'],
    minValidators: c['peer.discovery.minValidators'],
    admin: c['peer.admin.address'],
    metrics: c['peer.metrics.address'],
    security,
    warnings
  }
}

async function readYaml (file: string): Promise<unknown> {
  let text: string

  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    throw new ConfigError([{ source: { kind: 'file', file }, message: `cannot read it: ${err.code === 'ENOENT' ? 'no such file' : err.message}` }])
  }

  try {
    return parseYaml(text)
  } catch (err: any) {
    throw new ConfigError([{ source: { kind: 'file', file }, message: `not valid YAML: ${String(err.message).split('\n')[0]}` }])
  }
}

/**
 * The YAML's leaves as dotted keys. A known key is a leaf whatever its value
 * (the schema judges it); an empty value (`rootnode:`) means unset, as in
 * Fabric's core.yaml.
 */
function flatten (doc: unknown, file: string): Array<[string, unknown]> {
  if (doc == null) {
    return []
  }

  if (!isMapping(doc)) {
    throw new ConfigError([{ source: { kind: 'file', file }, message: 'must be a YAML mapping of keys (peer:, security:)' }])
  }

  const out: Array<[string, unknown]> = []
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix + name

      if (value == null) {
        continue
      }

      if (!KEYS.has(key) && isMapping(value)) {
        walk(value, `${key}.`)
      } else {
        out.push([key, value])
      }
    }
  }

  walk(doc, '')
  return out
}

function unknownKeyMessage (key: string): string {
  const section = CONFIG_KEYS.filter(k => k.key.startsWith(`${key}.`))

  if (section.length > 0) {
    return `must be a mapping with keys such as ${section.slice(0, 3).map(k => k.key).join(', ')}`
  }

  const sameLetters = CONFIG_KEYS.find(k => k.key.toLowerCase() === key.toLowerCase())
  return sameLetters != null ? `unknown key (did you mean ${sameLetters.key}?)` : 'unknown key'
}

function describeValue (value: unknown): string {
  if (Array.isArray(value)) {
    return 'a list'
  }

  if (typeof value === 'object' && value != null) {
    return 'a mapping'
  }

  return JSON.stringify(value) ?? String(value)
}

function isMapping (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

function nonEmpty (list: string[] | undefined): string[] | undefined {
  return list == null || list.length === 0 ? undefined : list
}
