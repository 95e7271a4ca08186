/**
 * The small HTTP servers of `node start` (admin API, metrics) and the admin
 * client used by `network list` and `tx submit`.
 */

import { createServer, request } from 'node:http'
import { once } from 'node:events'
import { isIP } from 'node:net'
import { ADMIN_CLIENT_TIMEOUT, ADMIN_MAX_BODY, ADMIN_REQUEST_TIMEOUT, HTTP_HEADERS_TIMEOUT, HTTP_TIMEOUT_CHECK_INTERVAL } from './constants.js'
import { AdminError, CliError } from './errors.js'
import type { HostPort } from './config.js'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An HTTP error to answer with: status and a message for the client */
export class HttpError extends Error {
  readonly status: number

  constructor (status: number, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
  }
}

/** Answers a request with a JSON-able value, or throws an HttpError */
export type Route = (req: IncomingMessage, body: unknown) => Promise<unknown> | unknown

export interface HttpEndpoint {
  /** The bound address (the real port when 0 was asked for) */
  address: HostPort
  url: string
  close(): Promise<void>
}

/**
 * Serve `routes` ("GET /peers") as JSON at `at`. Bodies are limited to
 * ADMIN_MAX_BODY, requests to ADMIN_REQUEST_TIMEOUT.
 *
 * @throws {CliError} when the address cannot be bound
 */
export async function serveJson (at: HostPort, routes: Record<string, Route>, what: string): Promise<HttpEndpoint> {
  return listen(at, what, 'json', (req, res) => {
    void handleJson(req, res, routes)
  })
}

/** Serve plain text (Prometheus exposition) at GET `path` */
export async function serveText (at: HostPort, path: string, what: string, body: () => Promise<{ contentType: string, text: string }>): Promise<HttpEndpoint> {
  return listen(at, what, 'text', (req, res) => {
    const requested = pathOf(req)

    if (requested == null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request: ${JSON.stringify(req.url)} is not a URL path\n`)
      return
    }

    if (req.method !== 'GET' || requested !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try GET ${path}\n`)
      return
    }

    body().then(({ contentType, text }) => {
      res.writeHead(200, { 'content-type': contentType }).end(text)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
    })
  })
}

/**
 * Ask a running node's admin API. Errors are AdminErrors a person can act on:
 * nobody listening, a timeout, or the node's own refusal.
 */
export async function adminRequest (at: HostPort, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const where = `${at.host}:${at.port}`
  let answer: { status: number, text: string }

  try {
    // node:http, not fetch: fetch refuses some ports ("bad port") that port 0 may hand out
    answer = await new Promise((resolve, reject) => {
      const payload = body == null ? undefined : JSON.stringify(body)
      const req = request({
        host: at.host,
        port: at.port,
        method,
        path,
        agent: false,
        headers: payload == null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        signal: AbortSignal.timeout(ADMIN_CLIENT_TIMEOUT)
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  } catch (err: any) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') {
      throw new AdminError(`the node at ${where} did not answer within ${ADMIN_CLIENT_TIMEOUT}ms`)
    }

    throw new AdminError(err.code === 'ECONNREFUSED'
      ? `no fabric-peer node answers at ${where}: is \`fabric-peer node start\` running? Its admin address is printed at start; point at it with --admin or peer.admin.address`
      : `cannot reach the node at ${where}: ${err.code ?? err.message}`)
  }

  let json: any

  try {
    json = JSON.parse(answer.text)
  } catch {
    throw new AdminError(`the server at ${where} is not a fabric-peer admin API (HTTP ${answer.status}, not JSON)`)
  }

  if (answer.status < 200 || answer.status > 299) {
    throw new AdminError(`the node refused: ${json?.error ?? `HTTP ${answer.status}`}`)
  }

  return json
}

/**
 * Why a request that a web page may have made is refused, or undefined. A
 * page can make a browser send requests here (a cross-site POST needs no
 * preflight with `Content-Type: text/plain`), and with DNS rebinding read the
 * answers under a name of its own: so the Host must be an IP address or
 * localhost on our port, no Origin header may be present, and a POST must be
 * JSON (which a page cannot send cross-site without a preflight we never answer).
 */
export function browserRefusal (req: IncomingMessage, port: number): HttpError | undefined {
  const host = req.headers.host

  if (host == null || !isOwnHost(host, port)) {
    return new HttpError(403, `refused: Host ${JSON.stringify(host ?? '').slice(0, 128)} is not this server's address (an IP address or localhost, port ${port})`)
  }

  if (req.headers.origin != null) {
    return new HttpError(403, 'refused: requests from web pages (with an Origin header) are not served')
  }

  if (req.method === 'POST' && req.headers['content-type']?.split(';')[0].trim().toLowerCase() !== 'application/json') {
    return new HttpError(415, 'refused: a POST must have Content-Type: application/json')
  }

  return undefined
}

async function listen (at: HostPort, what: string, format: 'json' | 'text', handler: RequestListener): Promise<HttpEndpoint> {
  let port = at.port
  const server: Server = createServer({
    requestTimeout: ADMIN_REQUEST_TIMEOUT,
    headersTimeout: HTTP_HEADERS_TIMEOUT,
    connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_INTERVAL
  }, (req, res) => {
    // a target that is no URL gets the handler's own 400 first
    const refusal = pathOf(req) == null ? undefined : browserRefusal(req, port)

    if (refusal == null) {
      handler(req, res)
    } else if (format === 'json') {
      send(res, refusal.status, { error: refusal.message })
    } else {
      res.writeHead(refusal.status, { 'content-type': 'text/plain' }).end(`${refusal.message}\n`)
    }
  })

  try {
    server.listen(at.port, at.host)
    await once(server, 'listening')
  } catch (err: any) {
    server.close()
    throw new CliError(err.code === 'EADDRINUSE'
      ? `${what} address ${at.host}:${at.port} is in use (another node?): choose another one, or port 0 for any free port`
      : `cannot serve the ${what} at ${at.host}:${at.port}: ${err.code ?? err.message}`)
  }

  // after listening, a server error (e.g. out of file descriptors on accept)
  // is reported, never an uncaught 'error' event that kills the node
  server.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`fabric-peer: ${what} at ${at.host}:${at.port}: ${err.code ?? err.message}\n`)
  })

  const bound = server.address() as AddressInfo
  port = bound.port
  const address = { host: at.host, port: bound.port }

  return {
    address,
    url: `http://${hostForUrl(address.host)}:${address.port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

async function handleJson (req: IncomingMessage, res: ServerResponse, routes: Record<string, Route>): Promise<void> {
  try {
    const path = pathOf(req)

    if (path == null) {
      throw new HttpError(400, `bad request: ${JSON.stringify(req.url)} is not a URL path`)
    }

    const route = routes[`${req.method} ${path}`]

    if (route == null) {
      const known = Object.keys(routes).filter(r => r.endsWith(` ${path}`))
      throw known.length > 0
        ? new HttpError(405, `${req.method} not allowed on ${path}: use ${known.join(' or ')}`)
        : new HttpError(404, `no such endpoint: ${req.method} ${path} (there are ${Object.keys(routes).join(', ')})`)
    }

    const result = await route(req, req.method === 'POST' ? await readJson(req) : undefined)
    send(res, 200, result)
  } catch (err: any) {
    send(res, err instanceof HttpError ? err.status : 500, { error: err.message ?? String(err) })
  }
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)

  if (declared > ADMIN_MAX_BODY) {
    throw new HttpError(413, `request body over ${ADMIN_MAX_BODY} bytes`)
  }

  const chunks: Buffer[] = []
  let size = 0

  for await (const chunk of req) {
    size += chunk.byteLength

    if (size > ADMIN_MAX_BODY) {
      throw new HttpError(413, `request body over ${ADMIN_MAX_BODY} bytes`)
    }

    chunks.push(chunk)
  }

  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (err: any) {
    throw new HttpError(400, `request body is not JSON: ${err.message}`)
  }
}

function send (res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    return
  }

  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
}

/**
 * The request's path, or undefined when its target is no URL: `new URL`
 * throws on a request line such as `GET //[ HTTP/1.1`, and a throw in a
 * request listener would be an uncaught exception that stops the node
 */
function pathOf (req: IncomingMessage): string | undefined {
  return URL.parse(req.url ?? '/', 'http://x')?.pathname ?? undefined
}

/** A Host header naming this server by an IP address or localhost, on its port: no DNS name a page could rebind */
function isOwnHost (host: string, port: number): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(host.trim())
  const name = (match?.[1] ?? match?.[2])?.toLowerCase()

  if (match == null || name == null) {
    return false
  }

  return Number(match[3] ?? 80) === port && (name === 'localhost' || isIP(name) !== 0)
}

function hostForUrl (host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
