import type { UseStore } from 'idb-keyval'
import { LIMITS } from '../contract.js'
import type { TrackerError } from './types.js'

/** The host facilities the tracker uses. Each defaults to the browser's own; tests pass fakes. */
export interface Platform {
  fetch: typeof fetch
  /** `navigator.sendBeacon`, bound; undefined where missing. */
  sendBeacon: ((url: string, body: string) => boolean) | undefined
  /**
   * Opens an IndexedDB object store (idb-keyval's `createStore`). Undefined where IndexedDB is
   * missing or blocked: the outbox then lives in memory.
   */
  createStore: ((databaseName: string, storeName: string) => UseStore) | undefined
  /** Web Locks; undefined where missing (insecure contexts, old browsers). */
  locks: LockManager | undefined
  /** For the lease that replaces Web Locks where they are missing. */
  localStorage: Storage | undefined
  BroadcastChannel: typeof BroadcastChannel | undefined
  /** Where `pagehide`, `pageshow`, `online`, `offline`, `freeze` and `resume` arrive. */
  window: EventTarget
  /** Where `visibilitychange` arrives, with `visibilityState`. */
  document: EventTarget & { visibilityState: DocumentVisibilityState }
  /** Whether the browser believes it is online. */
  isOnline: () => boolean
  /** Wall-clock time in epoch ms. */
  now: () => number
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  /** A number in [0, 1), for jitter. */
  random: () => number
  /** A random UUID (v4). */
  randomUUID: () => string
  console: Pick<Console, 'debug' | 'warn' | 'error'>
}

/**
 * Options of `createTracker()`. Only `endpoint` is required.
 * @example createTracker({ endpoint: '/engagements', flushAt: 10, debug: true })
 */
export interface TrackerOptions {
  /** URL of your proxy, absolute or relative to the page, such as `/engagements`. */
  endpoint: string
  /** Send as soon as this many engagements wait. Default `20`. */
  flushAt?: number
  /** Send waiting engagements at most this many ms after they were tracked. Default `5000`. */
  flushInterval?: number
  /** Most engagements in one request, 1 to 200. Default `200`. */
  maxBatchSize?: number
  /** Most bytes in one request body. Default `262144` (256 KiB). */
  maxBatchBytes?: number
  /** Most request starts in any sliding second, for all tabs of the origin together, 1 to 10. Default `10`. */
  maxRequestsPerSecond?: number
  /** Requests awaiting an answer at once. Default `3`. */
  maxConcurrentRequests?: number
  /** A request that has not answered after this many ms is abandoned and retried. Default `15000`. */
  requestTimeout?: number
  /** Most engagements kept in the outbox; beyond it the oldest are dropped (and reported). Default `10000`. */
  maxQueueSize?: number
  /** Most engagements held while no contact is known; beyond it the oldest are dropped. Default `100`. */
  maxHeld?: number
  /** Engagements not delivered this many ms after they were tracked are dropped. Default 7 days. */
  maxAge?: number
  /** Ceiling of the first retry's random delay, in ms; it doubles per failure. Default `1000`. */
  retryBaseDelay?: number
  /** Ceiling of any retry delay, in ms. Default `300000` (5 minutes). */
  retryMaxDelay?: number
  /** Keeps the outboxes of several trackers on one origin apart. Default `'default'`. */
  name?: string
  /** Logs each decision to the console. Default `false`. */
  debug?: boolean
  /** Called with every error: invalid input, refusals, storage trouble. */
  onError?: (error: TrackerError) => void
  /** Host facilities, for tests and unusual hosts. Default: the browser's. */
  platform?: Partial<Platform>
}

/** Options after normalization: every value present and in range. */
export interface ResolvedOptions {
  endpoint: string
  flushAt: number
  flushInterval: number
  maxBatchSize: number
  maxBatchBytes: number
  maxRequestsPerSecond: number
  maxConcurrentRequests: number
  requestTimeout: number
  maxQueueSize: number
  maxHeld: number
  maxAge: number
  retry: { baseMs: number; maxMs: number }
  name: string
  debug: boolean
  onError: ((error: TrackerError) => void) | undefined
  platform: Platform
}

const DAY = 86_400_000

/**
 * Fills in defaults and clamps numbers into their ranges, once, so nothing downstream needs a
 * fallback. Throws only for a missing endpoint: without one nothing can work.
 */
export function resolveOptions(options: TrackerOptions, platform: Platform): ResolvedOptions {
  if (typeof options?.endpoint !== 'string' || !options.endpoint) {
    throw new TypeError('conversion-engagements: createTracker needs an `endpoint`, the URL of your proxy')
  }
  const number = (value: number | undefined, fallback: number, min: number, max = Infinity): number =>
    typeof value === 'number' && value === value ? Math.min(max, Math.max(min, value)) : fallback
  return {
    endpoint: options.endpoint,
    flushAt: number(options.flushAt, 20, 1),
    flushInterval: number(options.flushInterval, 5_000, 0),
    maxBatchSize: number(options.maxBatchSize, LIMITS.batchSize, 1, LIMITS.batchSize),
    maxBatchBytes: number(options.maxBatchBytes, 262_144, 1_024, LIMITS.requestBytes),
    maxRequestsPerSecond: number(options.maxRequestsPerSecond, LIMITS.requestsPerSecond, 1, LIMITS.requestsPerSecond),
    maxConcurrentRequests: number(options.maxConcurrentRequests, 3, 1),
    requestTimeout: number(options.requestTimeout, 15_000, 1),
    maxQueueSize: number(options.maxQueueSize, 10_000, 1),
    maxHeld: number(options.maxHeld, 100, 0),
    maxAge: number(options.maxAge, 7 * DAY, 1),
    retry: { baseMs: number(options.retryBaseDelay, 1_000, 1), maxMs: number(options.retryMaxDelay, 300_000, 1) },
    name: options.name || 'default',
    debug: !!options.debug,
    onError: options.onError,
    platform,
  }
}
