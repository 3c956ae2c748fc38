/**
 * How long the Node server waits for a client, and how many connections one client may hold:
 * the limits against clients that are slow or greedy on purpose. Checked once, here.
 */

/** The options of `serveProxy` that bound what one client can hold. */
export interface ServerLimitOptions {
  /**
   * Milliseconds a client has, from opening the connection (or, on a kept-alive one, from the
   * first byte of its next request), to send the request's whole head. A tracker sends a small
   * POST at once, in one or two packets, so this only cuts clients that trickle their headers
   * or open connections and send nothing; they get 408 and the connection closes. Default
   * `10000`: room for a few lost packets on a poor mobile network.
   */
  headersTimeout?: number
  /**
   * Milliseconds a client has, from the moment its request's head arrived, to send the whole
   * body. A slower one gets 408 and its connection is closed, so clients that trickle a few
   * bytes a second cannot hold the proxy's connections. Default `30000`: a 256 KiB batch, the
   * tracker's default, at 70 kbit/s. Node's own deadline for a whole request is set to
   * `headersTimeout + bodyTimeout`: it cuts bodies the proxy stopped waiting for after answering
   * early (a refused origin, a full client).
   */
  bodyTimeout?: number
  /**
   * Milliseconds an idle connection is kept after an answer, for the client's next request
   * (Node closes it about a second later than it tells the client). A tracker sends in bursts:
   * the requests of a burst reuse the connection, and idle ones do not pile up. Default `5000`;
   * with `trustProxy: true`, `65000`: longer than the idle timeout of common reverse proxies and
   * load balancers (60 s), which would otherwise now and then send a request on a connection
   * Node is closing and answer it 502.
   */
  keepAliveTimeout?: number
  /**
   * Connections one client address may hold open at once (an IPv6 client: its /64 network, what
   * one home or phone is given); beyond it a new connection is closed at once, before it is
   * read. A browser holds at most a few (the tracker sends at most 3 requests at once); the
   * rest is room for the browsers that share an address behind a NAT. Default `64`; `false`
   * for no cap. Not with `trustProxy: true`, where every connection comes from the reverse
   * proxy: cap connections per client there (nginx: `limit_conn`).
   */
  maxConnectionsPerClient?: number | false
}

/** The limits, checked and complete. */
export interface ServerLimits {
  headersTimeout: number
  bodyTimeout: number
  /** Node's deadline for a whole request: head and body. */
  requestTimeout: number
  keepAliveTimeout: number
  maxConnectionsPerClient: number | false
}

const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
const DEFAULT_BODY_TIMEOUT_MS = 30_000
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000
const BEHIND_PROXY_KEEP_ALIVE_TIMEOUT_MS = 65_000
const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 64
/** Node's timers take at most a signed 32-bit number of ms; beyond it they fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Checks and completes the limits; throws a TypeError naming the option, the value and the accepted range. */
export function resolveServerLimits(options: { [Option in keyof ServerLimitOptions]?: unknown }, trustProxy: boolean): ServerLimits {
  const timeout = (name: keyof ServerLimitOptions, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
      fail(`\`${name}\` must be a positive number (an integer of ms up to ${MAX_TIMER_MS}), got ${shown(value)}`)
    }
    return value as number
  }
  const headersTimeout = timeout('headersTimeout', options.headersTimeout, DEFAULT_HEADERS_TIMEOUT_MS)
  const bodyTimeout = timeout('bodyTimeout', options.bodyTimeout, DEFAULT_BODY_TIMEOUT_MS)
  const keepAliveTimeout = timeout(
    'keepAliveTimeout',
    options.keepAliveTimeout,
    trustProxy ? BEHIND_PROXY_KEEP_ALIVE_TIMEOUT_MS : DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  )
  return {
    headersTimeout,
    bodyTimeout,
    requestTimeout: Math.min(MAX_TIMER_MS, headersTimeout + bodyTimeout),
    keepAliveTimeout,
    maxConnectionsPerClient: connectionCap(options.maxConnectionsPerClient, trustProxy),
  }
}

function connectionCap(value: unknown, trustProxy: boolean): number | false {
  if (value === false) return false
  if (value === undefined) return trustProxy ? false : DEFAULT_MAX_CONNECTIONS_PER_CLIENT
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(`\`maxConnectionsPerClient\` must be a positive integer or false, got ${shown(value)}`)
  }
  if (trustProxy) {
    fail(
      '`maxConnectionsPerClient` cannot be used with `trustProxy: true`: every connection comes from your reverse proxy, ' +
        'so a cap per address would refuse all clients at once; cap connections per client in the reverse proxy (nginx: limit_conn)',
    )
  }
  return value as number
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

function fail(message: string): never {
  throw new TypeError(`conversion-engagements proxy: ${message}`)
}
