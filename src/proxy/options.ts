import { LIMITS } from '../contract.js'
import type { AcknowledgedIds } from '../core/acknowledged.js'
import type { Coalescer } from '../core/coalescer.js'
import type { ClientGuard } from './guard.js'

/** Where the proxy writes what an operator should know. Never receives the API key. */
export type ProxyLogger = Pick<Console, 'info' | 'warn' | 'error'>

/**
 * Options of `createProxy()`. `apiKey` and `allowedOrigins` are required.
 * @example
 * createProxy({ apiKey: env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 */
export interface ProxyOptions {
  /** Your Conversion API key (`sk_live_...`). It is sent to Conversion and nowhere else. */
  apiKey: string
  /**
   * Origins allowed to send, such as `https://app.example.com`; `https://*.example.com` allows
   * its subdomains. Requests from any other origin, or without an `Origin` header, get 403.
   */
  allowedOrigins: readonly string[]
  /** Conversion's API base; `/v1/activities/batch` is appended. Default `https://pub-api.conversion.ai/api`. */
  upstreamUrl?: string
  /**
   * The path the proxy answers on; anything else gets 404. Default `/api/relay`: ad blockers
   * drop requests whose URL looks like analytics (`/track`, `/collect`, `/events`, ...).
   */
  path?: string
  /**
   * When set, an engagement is accepted only if `identity[contactEmail]` in the request is a
   * valid signature made with this secret by `signIdentity()`. Default: not checked.
   */
  identitySecret?: string
  /** When set, engagements of other types are rejected. Default: any type. */
  allowedTypes?: readonly string[]
  /** Largest request body, in bytes; larger ones get 413. Default `1048576` (1 MiB). */
  maxBodyBytes?: number
  /**
   * Requests one client may make per window before getting 429, or `false` for no limit.
   * Default `{ requests: 200, windowMs: 10000 }`: twice what one browser's tracker ever sends,
   * so that a few users behind one address are not refused. Needs `clientKey` (the adapters set it).
   */
  clientRateLimit?: { requests: number; windowMs: number } | false
  /** Upstream request starts in any sliding second, 1 to 10. Default `10` (Conversion's limit). */
  maxRequestsPerSecond?: number
  /**
   * How long a client's request may wait for its engagements to be settled upstream before it
   * gets 503 with `Retry-After` (the browser keeps them and retries), in ms. Default `8000`,
   * well inside the tracker's 15 s request timeout.
   */
  settleTimeout?: number
  /** Abandon an upstream request after this many ms (and retry it). Default `10000`. */
  upstreamTimeout?: number
  /**
   * Ceiling of the first upstream retry's random delay, in ms; it doubles per failure in a row
   * (full jitter). Default `1000`. A `Retry-After` from Conversion is obeyed instead.
   */
  retryBaseDelay?: number
  /** Ceiling of any upstream retry delay, in ms. Default `30000`. */
  retryMaxDelay?: number
  /**
   * Names the client of a request, for the per-client limit. Default: none, so no per-client
   * limit. The Node host passes the socket's address (or a trusted proxy's header); the
   * Cloudflare Worker passes `CF-Connecting-IP`.
   */
  clientKey?: (request: Request, env: unknown) => string | undefined
  /** The per-client limit itself, instead of the in-memory one (Cloudflare's rate-limit binding). */
  guard?: ClientGuard
  /**
   * Where validated engagements go. Default: a Coalescer in this process, which paces and
   * de-duplicates for it alone. The Cloudflare Worker passes a Durable Object that does it for
   * every isolate.
   */
  coalescer?: Pick<Coalescer, 'submit'>
  /**
   * The in-process Coalescer's memory of the ids Conversion acknowledged, which answers a
   * browser's re-send as a duplicate instead of forwarding it again. Default: in memory, 24 hours,
   * forgotten when the process stops. On Node, `serveProxy({ stateFile })` keeps it in a file so a
   * restart forgets nothing (see `createFileAcknowledgedIds`). Unused with `coalescer`.
   */
  acknowledged?: AcknowledgedIds
  /** Default `console`. */
  logger?: ProxyLogger
  /** For calls to Conversion. Default the global `fetch`. */
  fetch?: typeof fetch
  /** Wall-clock time in epoch ms. Default `Date.now`. */
  now?: () => number
  /** A number in [0, 1), for backoff jitter. Default `Math.random`. */
  random?: () => number
}

/** Options after normalization: every value present and checked. */
export interface ProxySettings {
  apiKey: string
  allowedOrigins: readonly string[]
  upstreamUrl: string
  path: string
  identitySecret: string | undefined
  allowedTypes: ReadonlySet<string> | undefined
  maxBodyBytes: number
  clientRateLimit: { requests: number; windowMs: number } | false
  maxRequestsPerSecond: number
  settleTimeout: number
  upstreamTimeout: number
  retry: { baseMs: number; maxMs: number }
  clientKey: (request: Request, env: unknown) => string | undefined
  guard: ClientGuard | undefined
  coalescer: Pick<Coalescer, 'submit'> | undefined
  acknowledged: AcknowledgedIds | undefined
  logger: ProxyLogger
  fetch: typeof fetch
  now: () => number
  random: () => number
}

export const DEFAULT_UPSTREAM_URL = 'https://pub-api.conversion.ai/api'
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000
export const DEFAULT_PATH = '/api/relay'

/**
 * Checks and completes the options once. Throws a TypeError naming the option for what cannot
 * work; the message never holds the key's value.
 */
export function resolveProxyOptions(options: ProxyOptions): ProxySettings {
  const fail = (message: string): never => {
    throw new TypeError(`conversion-engagements proxy: ${message}`)
  }
  if (typeof options?.apiKey !== 'string' || options.apiKey.trim() === '') fail('`apiKey` is required (your Conversion API key)')
  const origins = options.allowedOrigins
  if (!Array.isArray(origins) || origins.length === 0 || origins.some((origin) => typeof origin !== 'string' || !/^https?:\/\/./.test(origin))) {
    fail('`allowedOrigins` must list at least one origin, such as https://app.example.com')
  }
  const path = options.path ?? DEFAULT_PATH
  if (!path.startsWith('/')) fail('`path` must start with "/"')
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback
    if (!(value > 0)) fail(`\`${name}\` must be a positive number`)
    return value
  }
  const limit = options.clientRateLimit ?? { requests: 200, windowMs: 10_000 }
  return {
    apiKey: options.apiKey,
    allowedOrigins: origins,
    upstreamUrl: options.upstreamUrl ?? DEFAULT_UPSTREAM_URL,
    path,
    identitySecret: options.identitySecret || undefined,
    allowedTypes: options.allowedTypes ? new Set(options.allowedTypes) : undefined,
    maxBodyBytes: positive(options.maxBodyBytes, LIMITS.requestBytes, 'maxBodyBytes'),
    clientRateLimit: limit && {
      requests: positive(limit.requests, 200, 'clientRateLimit.requests'),
      windowMs: positive(limit.windowMs, 10_000, 'clientRateLimit.windowMs'),
    },
    maxRequestsPerSecond: Math.min(LIMITS.requestsPerSecond, positive(options.maxRequestsPerSecond, LIMITS.requestsPerSecond, 'maxRequestsPerSecond')),
    settleTimeout: positive(options.settleTimeout, 8_000, 'settleTimeout'),
    upstreamTimeout: positive(options.upstreamTimeout, DEFAULT_UPSTREAM_TIMEOUT_MS, 'upstreamTimeout'),
    retry: {
      baseMs: positive(options.retryBaseDelay, 1_000, 'retryBaseDelay'),
      maxMs: positive(options.retryMaxDelay, 30_000, 'retryMaxDelay'),
    },
    clientKey: options.clientKey ?? (() => undefined),
    guard: options.guard,
    coalescer: options.coalescer,
    acknowledged: options.acknowledged,
    logger: options.logger ?? console,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
  }
}
