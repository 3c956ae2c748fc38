/** The proxy on Node: `serveProxy()` starts an HTTP server around `createProxy()`. */
import type { IncomingMessage } from 'node:http'
import { serveExchanges, type ListenOptions } from './serve.js'
import { addressGroup } from './connection-cap.js'
import { chooseCoordination } from './coordination.js'
import { withHealthChecks, type Readiness } from './health.js'
import { createProxyMetrics } from './metrics.js'
import { serveMetrics, type MetricsServer } from './metrics-server.js'
import { observePorts } from './observed-ports.js'
import { gateRequests } from './request-gate.js'
import { resolveServerLimits, type ServerLimitOptions } from './server-limits.js'
import { cutOffBy } from './cut-off.js'
import { stopsOf } from './shutdown.js'
import { optionReader } from '../../core/options.js'
import { baseHeaders } from '../../proxy/cors.js'
import { parseAllowedOrigins } from '../../proxy/origins.js'
import { createProxy, type Proxy } from '../../proxy/proxy.js'
import { resolveProxyOptions, type ProxyOptions } from '../../proxy/options.js'

export { createFileMemory, type FileMemory, type FileMemoryOptions } from './file-memory.js'
export type { ServerLimitOptions } from './server-limits.js'
export type { Readiness } from './health.js'

/**
 * Options of {@link serveProxy}: the proxy's, where to listen, whom to trust for client
 * addresses, where to remember and pace (the process, a state file, or Redis for a fleet),
 * metrics, and what one client may hold (see {@link ServerLimitOptions}).
 */
export interface ServeProxyOptions extends ProxyOptions, ListenOptions, ServerLimitOptions {
  /**
   * Take the client's address from `X-Forwarded-For` (its last entry, added by your own reverse
   * proxy) instead of the socket. Only when a reverse proxy you run is in front: otherwise
   * clients could choose their own address and escape the per-client limit. Default `false`.
   */
  trustProxy?: boolean
  /**
   * A file where the proxy remembers, for 24 hours, which engagements Conversion acknowledged,
   * so that after a restart (a deploy, a crash) a browser's re-send is still answered as a
   * duplicate instead of reaching Conversion twice. One line per upstream batch, compacted by
   * itself; a line torn by a crash is skipped. One process per file. Default: none, the memory
   * lives and dies with the process.
   * @example serveProxy({ apiKey, allowedOrigins, stateFile: '/var/lib/relay/delivered.log' })
   */
  stateFile?: string
  /**
   * Redis (`redis://` or `rediss://`), shared by every replica that sends with this API key: one
   * sliding-window limit for all of them and one memory of delivered engagements (see
   * `conversion-engagements/redis`). While Redis is unreachable the proxy answers 503 with
   * `Retry-After` and `/readyz` answers 503: it never falls back to pacing alone. Not with
   * `stateFile`, `memory` or `pacer`. Default: none, the process paces and remembers alone.
   * @example serveProxy({ apiKey, allowedOrigins, redisUrl: process.env.REDIS_URL })
   */
  redisUrl?: string
  /**
   * Serve Prometheus metrics at `GET /metrics` on this port (`0`: any free one), apart from the
   * proxy's. Default: none, no metrics.
   */
  metricsPort?: number
  /** The interface of the metrics port. Default `'127.0.0.1'`: loopback only. */
  metricsHost?: string
}

/** A running proxy server. */
export interface RunningProxy {
  /** Where the proxy answers, path included: what to give the tracker as `endpoint`. */
  url: string
  origin: string
  port: number
  proxy: Proxy
  /** Where the metrics are scraped, when `metricsPort` was given. */
  metricsUrl: string | undefined
  /** Whether the proxy can forward now, as `GET /readyz` answers. */
  readiness(): Readiness
  /**
   * Stops gracefully: turns new requests away (503, `Retry-After`), answers those in flight
   * (each within `settleTimeout`), gives back what was claimed but never sent, lets the upstream
   * requests still out land, then closes everything. What SIGTERM should do. Asked again, the
   * same stop.
   */
  shutdown(): Promise<void>
  /**
   * Stops at once: drops every connection (the upstream requests still out are aborted), stops
   * the proxy's timers, closes Redis and the state file. During a `shutdown()`, cuts it short
   * (what a second SIGTERM should do).
   */
  close(): Promise<void>
}

const read = optionReader('conversion-engagements proxy')

/**
 * Serves the proxy on Node.
 * @example
 * const server = await serveProxy({ port: 8787, apiKey: process.env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * console.log(`tracker endpoint: ${server.url}`)
 */
export async function serveProxy(options: ServeProxyOptions): Promise<RunningProxy> {
  const {
    port,
    host,
    trustProxy = false,
    stateFile,
    redisUrl,
    metricsPort,
    metricsHost = '127.0.0.1',
    headersTimeout,
    bodyTimeout,
    keepAliveTimeout,
    maxConnectionsPerClient,
    ...proxyOptions
  } = options
  const limits = resolveServerLimits({ headersTimeout, bodyTimeout, keepAliveTimeout, maxConnectionsPerClient }, trustProxy)
  const settings = resolveProxyOptions(proxyOptions)
  const allowed = parseAllowedOrigins(proxyOptions.allowedOrigins)
  if (metricsPort !== undefined) read.number('metricsPort', metricsPort, 0, { min: 0, max: 65_535, integer: true })
  const coordination = chooseCoordination({
    stateFile,
    redisUrl,
    memory: proxyOptions.memory,
    pacer: proxyOptions.pacer,
    settings,
    logger: settings.logger,
  })
  let proxy: Proxy | undefined
  let metricsServer: MetricsServer | undefined
  try {
    let readiness: () => Readiness = () => ({ ready: false, reason: 'starting' })
    const cutOff = new AbortController()
    const metrics =
      metricsPort === undefined
        ? undefined
        : createProxyMetrics({ stats: () => proxy?.stats(), ready: () => readiness().ready, redisReachable: coordination.redisReachable })
    const ports = observePorts(
      { pacer: coordination.pacer, memory: coordination.memory, fetch: settings.fetch },
      // Failures of a local port are the Coalescer's to count (`memoryFailures`); only Redis's are counted here.
      { ...metrics?.observer, ...(coordination.redisReachable ? {} : { portError: undefined }) },
    )
    proxy = createProxy({
      clientKey: (_request, env) => clientAddress(env as NodeClient, trustProxy),
      ...proxyOptions,
      ...(ports.memory ? { memory: ports.memory } : {}),
      ...(ports.pacer ? { pacer: ports.pacer } : {}),
      fetch: cutOffBy(ports.fetch, cutOff.signal),
    })
    const running = proxy
    const gate = gateRequests(running.answer, allowed, metrics?.clientAnswer)
    readiness = () => {
      if (gate.closing) return { ready: false, reason: 'the proxy is shutting down' }
      if (coordination.redisReachable && !coordination.redisReachable()) return { ready: false, reason: 'Redis is unreachable' }
      const halted = running.stats()?.halted
      return halted ? { ready: false, reason: `Conversion refuses this proxy: ${halted.reason}` } : { ready: true }
    }
    const server = await serveExchanges(
      withHealthChecks(gate.handler, () => readiness()),
      {
        ...(port === undefined ? {} : { port }),
        ...(host === undefined ? {} : { host }),
        limits,
        errorHeaders: baseHeaders(),
        bodyTimeout: limits.bodyTimeout,
        clientOf: clientOfRequest(proxyOptions.clientKey, trustProxy),
      },
    )
    metricsServer =
      metrics &&
      (await serveMetrics(metrics, metricsPort as number, metricsHost).catch(async (error: unknown) => {
        await server.close()
        throw error
      }))
    const metricsUrl = metricsServer?.url
    const stops = stopsOf({
      gate,
      proxy: running,
      pending: ports.pending,
      settleTimeout: settings.settleTimeout,
      upstreamTimeout: settings.upstreamTimeout,
      async closeAll() {
        // Upstream requests still out now are aborted, and each lands its pacer slot as it settles.
        cutOff.abort(new Error('the proxy stopped'))
        running.close()
        await Promise.all([server.close(), metricsServer?.close()])
        // Last, so that what settled before (slots landed, acknowledgements) reaches Redis; a slot
        // that never landed (a stop at once) counts there until its lease ends.
        await coordination.close()
      },
    })
    return {
      url: `${server.origin}${settings.path}`,
      origin: server.origin,
      port: server.port,
      proxy: running,
      metricsUrl,
      readiness: () => readiness(),
      shutdown: stops.shutdown,
      close: stops.close,
    }
  } catch (error) {
    proxy?.close()
    await coordination.close()
    throw error
  }
}

interface NodeClient {
  address: string | undefined
  incoming: IncomingMessage
}

/**
 * Who sent a request: its address, or what the `clientKey` given to serveProxy says of it. That
 * one is handed a Web `Request` of the head alone (the proxy reads the body) and `{ address, incoming }`.
 */
function clientOfRequest(
  clientKey: ServeProxyOptions['clientKey'],
  trustProxy: boolean,
): (incoming: IncomingMessage) => string | undefined {
  if (!clientKey) return (incoming) => clientAddress({ address: incoming.socket.remoteAddress, incoming }, trustProxy)
  return (incoming) => clientKey(headOf(incoming), { address: incoming.socket.remoteAddress, incoming })
}

/** The head of a Node request as a Web `Request`, without its body (the proxy asks only of a POST's client). */
function headOf(incoming: IncomingMessage): Request {
  const headers = new Headers()
  for (let i = 0; i < incoming.rawHeaders.length; i += 2)
    headers.append(incoming.rawHeaders[i] as string, incoming.rawHeaders[i + 1] as string)
  return new Request(`http://${incoming.headers.host ?? 'localhost'}${incoming.url ?? '/'}`, { method: incoming.method ?? 'POST', headers })
}

/** The client, for the per-client limits: its address, an IPv6 one as its /64 network, as the connection cap counts it. */
function clientAddress({ address, incoming }: NodeClient, trustProxy: boolean): string | undefined {
  if (!trustProxy) return groupOf(address)
  // The last hop is the one our own reverse proxy appended; earlier ones are the client's word.
  const header = incoming.headers['x-forwarded-for']
  const forwarded = typeof header === 'string' ? header.slice(header.lastIndexOf(',') + 1).trim() : ''
  return groupOf(forwarded || address)
}

/** `addressGroup`, which gives an IPv4 address back as it is, without parsing one as IPv6 first. */
function groupOf(address: string | undefined): string | undefined {
  return address !== undefined && !address.includes(':') ? address : addressGroup(address)
}
