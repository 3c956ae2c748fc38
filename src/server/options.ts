/** The backend client's options, checked and completed once. */
import { LIMITS } from '../contract.js'
import type { Coalescer, DeliveryMemory, SharedPacer } from '../core/coalescer/index.js'
import { optionReader } from '../core/options.js'
import { defaultSha256, type Sha256Hex } from '../proxy/fingerprint.js'
import { DEFAULT_UPSTREAM_URL, PROXY_DEFAULTS, type ProxyLogger } from '../proxy/options.js'
import type { RoomClock } from './room.js'

/**
 * Options of `createClient()`. Only `apiKey` is required.
 * @example createClient({ apiKey: process.env.CONVERSION_API_KEY! })
 */
export interface ClientOptions {
  /** Your Conversion API key. It is sent to Conversion and nowhere else. */
  apiKey: string
  /** Conversion's API base. Default `https://pub-api.conversion.ai/api`. */
  upstreamUrl?: string | undefined
  /** Upstream request starts in any sliding second, 1 to 10. Default `10`: share it with the proxy through `pacer` (or `redisUrl`). */
  maxRequestsPerSecond?: number
  /**
   * Most engagements the client holds at once (checked, waiting or in flight); a call beyond it
   * waits for room (backpressure). Default `20000`: ten seconds at Conversion's full rate.
   */
  maxPending?: number
  /**
   * How long a call may wait, for room and for Conversion, before its engagements resolve `busy`,
   * in ms. Default: no limit (a call resolves when its engagements are settled).
   */
  deadline?: number
  /** Abandon an upstream request after this many ms (and retry it). Default `10000`. */
  upstreamTimeout?: number
  /** Ceiling of the first retry's random delay, in ms; it doubles per failure. Default `1000`. */
  retryBaseDelay?: number
  /** Ceiling of any retry delay, in ms. Default `30000`. */
  retryMaxDelay?: number
  /**
   * On Node (the `node` build of this entry): a Redis URL, to share the key's limit and memory with
   * a proxy fleet (see `conversion-engagements/redis`). Elsewhere, give `pacer` and `memory`.
   */
  redisUrl?: string | undefined
  /** Where engagements go instead of a Coalescer of this client's own: the proxy's Durable Object on Workers. */
  coalescer?: Pick<Coalescer, 'submit'>
  /** The pacer shared with the key's other senders (see `conversion-engagements/redis`). Default: this client's own. */
  pacer?: SharedPacer
  /** The memory of delivered engagements shared with the key's other senders. Default: in this process. */
  memory?: DeliveryMemory
  /** SHA-256 as hex. Default: Node's `crypto.hash` where present, else WebCrypto. */
  sha256?: Sha256Hex
  /** Default `console`. Never receives the API key. */
  logger?: ProxyLogger
  /** For calls to Conversion. Default the global `fetch`. */
  fetch?: typeof fetch
  /** Time and timers. Default the platform's. */
  clock?: RoomClock
  /** A number in [0, 1), for backoff jitter. Default `Math.random`. */
  random?: () => number
  /** A random UUID, for engagements without an id. Default `crypto.randomUUID`. */
  randomUUID?: () => string
}

/** The options, checked and complete. */
export interface ClientSettings {
  apiKey: string
  upstreamUrl: string
  maxRequestsPerSecond: number
  maxPending: number
  deadline: number
  upstreamTimeout: number
  retry: { baseMs: number; maxMs: number }
  coalescer: Pick<Coalescer, 'submit'> | undefined
  pacer: SharedPacer | undefined
  memory: DeliveryMemory | undefined
  sha256: Sha256Hex
  logger: ProxyLogger
  fetch: typeof fetch
  clock: RoomClock
  random: () => number
  randomUUID: () => string
}

export const CLIENT_DEFAULTS = { maxPending: 20_000 } as const

const read = optionReader('conversion-engagements client')

export function resolveClientOptions(options: ClientOptions): ClientSettings {
  if (typeof options?.apiKey !== 'string' || options.apiKey.trim() === '') read.fail('apiKey', 'your Conversion API key (it is required)')
  if (options.redisUrl !== undefined) read.fail('redisUrl', 'given on Node only (this runtime takes `pacer` and `memory` instead)')
  const positive = (name: string, value: number | undefined, fallback: number) => read.number(name, value, fallback, { min: 1 })
  return {
    apiKey: options.apiKey,
    upstreamUrl: options.upstreamUrl ?? DEFAULT_UPSTREAM_URL,
    maxRequestsPerSecond: read.number('maxRequestsPerSecond', options.maxRequestsPerSecond, LIMITS.requestsPerSecond, {
      min: 1,
      max: LIMITS.requestsPerSecond,
      integer: true,
    }),
    maxPending: read.number('maxPending', options.maxPending, CLIENT_DEFAULTS.maxPending, { min: LIMITS.batchSize, integer: true }),
    deadline: positive('deadline', options.deadline, Infinity),
    upstreamTimeout: positive('upstreamTimeout', options.upstreamTimeout, PROXY_DEFAULTS.upstreamTimeout),
    retry: {
      baseMs: positive('retryBaseDelay', options.retryBaseDelay, PROXY_DEFAULTS.retryBaseDelay),
      maxMs: positive('retryMaxDelay', options.retryMaxDelay, PROXY_DEFAULTS.retryMaxDelay),
    },
    coalescer: options.coalescer,
    pacer: options.pacer,
    memory: options.memory,
    sha256: options.sha256 ?? defaultSha256(),
    logger: options.logger ?? console,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    clock: options.clock ?? {
      now: () => Date.now(),
      setTimeout: (callback, ms) => setTimeout(callback, ms),
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    random: options.random ?? Math.random,
    randomUUID: options.randomUUID ?? (() => crypto.randomUUID()),
  }
}
