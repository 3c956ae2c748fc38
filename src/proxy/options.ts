/** The proxy's options, checked and completed once into {@link ProxySettings}. */
import { LIMITS } from '../contract.js'
import { COALESCER_DEFAULTS, type Coalescer, type DeliveryMemory, type SharedPacer } from '../core/coalescer/index.js'
import { optionReader } from '../core/options.js'
import { defaultSha256, type Sha256Hex } from './fingerprint.js'
import type { ClientGuard } from './guard.js'
import { parseAllowedOrigins, type AllowedOrigins } from './origins.js'

/** Where the proxy writes what an operator should know. Never receives the API key. */
export type ProxyLogger = Pick<Console, 'info' | 'warn' | 'error'>

/** The per-client limit at the door; each value defaults as `PROXY_DEFAULTS.clientRateLimit` says. */
export interface ClientRateLimit {
  /** Requests one client may make per window. Default `200`. */
  requests?: number
  /** Engagements one client may send per window. Default `10000`. */
  engagements?: number
  /** Default `10000` ms. */
  windowMs?: number
}

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
   * The path the proxy answers on; anything else gets 404. Default `/api/relay`: ad blockers drop
   * requests whose URL looks like analytics (`/track`, `/collect`, `/events`, ...).
   */
  path?: string
  /** When set, an engagement is accepted only with a valid identity signature (see `signIdentity()`). */
  identitySecret?: string
  /** When set, engagements of other types are rejected. Default: any type. */
  allowedTypes?: readonly string[]
  /** Largest request body, in bytes; larger ones get 413. Default `1048576` (1 MiB). */
  maxBodyBytes?: number
  /**
   * What one client (an address) may send per window before getting 429, or `false` for no limit.
   * Default `{ requests: 200, engagements: 10000, windowMs: 10000 }`: twice what one browser's
   * tracker sends at most, and half of Conversion's capacity in engagements. Needs `clientKey`.
   */
  clientRateLimit?: ClientRateLimit | false
  /** Upstream request starts in any sliding second, 1 to 10. Default `10` (Conversion's limit). */
  maxRequestsPerSecond?: number
  /** Most bytes of one upstream request body; a 413 from Conversion lowers it. Default `1000000`. */
  maxBatchBytes?: number
  /**
   * Most bytes of memory the engagements waiting for Conversion may take (their JSON text and
   * bookkeeping). Beyond it requests get 503 with `Retry-After`. Default 64 MiB.
   */
  maxHeldBytes?: number
  /**
   * Most bytes of request bodies being read and checked at once. Beyond it requests get 503 with
   * `Retry-After`. Default 32 MiB.
   */
  maxIntakeBytes?: number
  /**
   * The share of the proxy (engagements held, their bytes, bodies being read) one client may take,
   * above 0 and at most 1; beyond it that client gets 429 with `Retry-After`. Default `0.25`.
   */
  clientShare?: number
  /**
   * Upstream requests that finding what Conversion refused in a client request may cost; past it,
   * the engagements still suspected are rejected with `unchecked: true` and a reason that says so
   * (sent again in a request of their own, they are checked). Default `50`.
   */
  isolationBudget?: number
  /**
   * How long a client's request may wait for its engagements to be settled upstream before it gets
   * 503 with `Retry-After` (the browser keeps them and retries), in ms. Default `8000`.
   */
  settleTimeout?: number
  /** Abandon an upstream request after this many ms (and retry it). Default `10000`. */
  upstreamTimeout?: number
  /** Ceiling of the first upstream retry's random delay, in ms; it doubles per failure in a row. Default `1000`. */
  retryBaseDelay?: number
  /** Ceiling of any upstream retry delay, in ms. Default `30000`. */
  retryMaxDelay?: number
  /** Names the client of a request (an address); the Node and Cloudflare hosts set it. Default: none. */
  clientKey?: (request: Request, env: unknown) => string | undefined
  /** The per-client limit itself, instead of the in-memory one (Cloudflare's rate-limit binding). */
  guard?: ClientGuard
  /** Where validated engagements go. Default: a Coalescer in this process. */
  coalescer?: Pick<Coalescer, 'submit'>
  /** The in-process Coalescer's memory of delivered engagements. Default: in memory (see `createMemory`). */
  memory?: DeliveryMemory
  /** The in-process Coalescer's pacer, shared with the key's other senders. Default: its own. */
  pacer?: SharedPacer
  /** SHA-256 as hex, for the digests that bind ids to content. Default: Node's `crypto.hash` where present, else WebCrypto. */
  sha256?: Sha256Hex
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
export interface ProxySettings
  extends Required<
    Omit<
      ProxyOptions,
      | 'allowedOrigins'
      | 'clientRateLimit'
      | 'identitySecret'
      | 'allowedTypes'
      | 'guard'
      | 'coalescer'
      | 'memory'
      | 'pacer'
      | 'retryBaseDelay'
      | 'retryMaxDelay'
    >
  > {
  allowedOrigins: AllowedOrigins
  clientRateLimit: Required<ClientRateLimit> | false
  identitySecret: string | undefined
  allowedTypes: ReadonlySet<string> | undefined
  guard: ClientGuard | undefined
  coalescer: Pick<Coalescer, 'submit'> | undefined
  memory: DeliveryMemory | undefined
  pacer: SharedPacer | undefined
  retry: { baseMs: number; maxMs: number }
}

export const DEFAULT_UPSTREAM_URL = 'https://pub-api.conversion.ai/api'
export const DEFAULT_PATH = '/api/relay'

/** Defaults of the proxy, written once (the README's option table is tested against them). */
export const PROXY_DEFAULTS = {
  upstreamUrl: DEFAULT_UPSTREAM_URL,
  path: DEFAULT_PATH,
  maxBodyBytes: LIMITS.requestBytes,
  clientRateLimit: { requests: 200, engagements: 10_000, windowMs: 10_000 },
  maxRequestsPerSecond: COALESCER_DEFAULTS.maxRequestsPerSecond,
  maxBatchBytes: COALESCER_DEFAULTS.maxBatchBytes,
  maxHeldBytes: COALESCER_DEFAULTS.maxHeldBytes,
  maxIntakeBytes: 32 * 1_048_576,
  clientShare: COALESCER_DEFAULTS.clientShare,
  isolationBudget: COALESCER_DEFAULTS.isolationBudget,
  settleTimeout: COALESCER_DEFAULTS.deadlineMs,
  upstreamTimeout: 10_000,
  retryBaseDelay: COALESCER_DEFAULTS.retry.baseMs,
  retryMaxDelay: COALESCER_DEFAULTS.retry.maxMs,
} as const

const read = optionReader('conversion-engagements proxy')

/**
 * Checks and completes the options once. Throws a TypeError naming the option, the value and the
 * accepted range; the message never holds the key's value.
 */
export function resolveProxyOptions(options: ProxyOptions): ProxySettings {
  const D = PROXY_DEFAULTS
  if (typeof options?.apiKey !== 'string' || options.apiKey.trim() === '') read.fail('apiKey', 'your Conversion API key (it is required)')
  const path = options.path ?? D.path
  if (typeof path !== 'string' || !path.startsWith('/')) read.fail('path', 'a path starting with "/"', path)
  const positive = (name: keyof typeof D, value: number | undefined) => read.number(name, value, D[name] as number, { min: 1 })
  const share = read.number('clientShare', options.clientShare, D.clientShare, { min: 0.01, max: 1 })
  const limit = options.clientRateLimit ?? D.clientRateLimit
  return {
    apiKey: options.apiKey,
    allowedOrigins: parseAllowedOrigins(options.allowedOrigins),
    upstreamUrl: options.upstreamUrl ?? D.upstreamUrl,
    path,
    identitySecret: options.identitySecret || undefined,
    allowedTypes: options.allowedTypes ? new Set(options.allowedTypes) : undefined,
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes),
    clientRateLimit: limit && {
      requests: read.number('clientRateLimit.requests', limit.requests, D.clientRateLimit.requests, { min: 1 }),
      engagements: read.number('clientRateLimit.engagements', limit.engagements, D.clientRateLimit.engagements, { min: LIMITS.batchSize }),
      windowMs: read.number('clientRateLimit.windowMs', limit.windowMs, D.clientRateLimit.windowMs, { min: 1 }),
    },
    maxRequestsPerSecond: read.number('maxRequestsPerSecond', options.maxRequestsPerSecond, D.maxRequestsPerSecond, {
      min: 1,
      max: LIMITS.requestsPerSecond,
      integer: true,
    }),
    maxBatchBytes: read.number('maxBatchBytes', options.maxBatchBytes, D.maxBatchBytes, { min: 1_024, integer: true }),
    maxHeldBytes: read.number('maxHeldBytes', options.maxHeldBytes, D.maxHeldBytes, { min: 1_048_576 }),
    maxIntakeBytes: read.number('maxIntakeBytes', options.maxIntakeBytes, D.maxIntakeBytes, { min: 1_048_576 }),
    clientShare: share,
    isolationBudget: read.number('isolationBudget', options.isolationBudget, D.isolationBudget, { min: 0, integer: true }),
    settleTimeout: positive('settleTimeout', options.settleTimeout),
    upstreamTimeout: positive('upstreamTimeout', options.upstreamTimeout),
    retry: { baseMs: positive('retryBaseDelay', options.retryBaseDelay), maxMs: positive('retryMaxDelay', options.retryMaxDelay) },
    clientKey: options.clientKey ?? (() => undefined),
    guard: options.guard,
    coalescer: options.coalescer,
    memory: options.memory,
    pacer: options.pacer,
    sha256: options.sha256 ?? defaultSha256(),
    logger: options.logger ?? console,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
  }
}
