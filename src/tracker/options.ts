import type { UseStore } from 'idb-keyval'
import { LIMITS } from '../contract.js'
import type { BackoffPolicy } from '../core/retry.js'
import { attempt } from './platform.js'
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
 * Options of `createTracker()`. Only `endpoint` is required. Any other option given with the
 * wrong type or out of its range is reported (an `error` event with code `invalid` and `field`
 * the option's name, and a console warning), and its default is used instead.
 * @example createTracker({ endpoint: '/engagements', flushAt: 10, debug: true })
 */
export interface TrackerOptions {
  /** URL of your proxy, absolute or relative to the page, such as `/engagements`. */
  endpoint: string
  /** Send as soon as this many engagements wait; a whole number, at least 1. Default `20`. */
  flushAt?: number
  /** Send waiting engagements at most this many ms after they were tracked, 0 to 2147483647. Default `5000`. */
  flushInterval?: number
  /** Most engagements in one request, a whole number from 1 to 200. Default `200`. */
  maxBatchSize?: number
  /** Most bytes in one request body, 1024 to 1048576. Default `262144` (256 KiB). */
  maxBatchBytes?: number
  /**
   * Most requests the proxy sees arrive in any sliding second, for all tabs of the origin
   * together, beacons included; a whole number from 1 to 10. Default `10`. A request holds one
   * of these slots from its start until a second after its answer (a beacon, which has none,
   * until `requestTimeout` after it left), so no preflight, latency or retry can squeeze more
   * into a second where they arrive.
   */
  maxRequestsPerSecond?: number
  /**
   * Requests awaiting an answer at once; a whole number, at least 1. Default `10`: as many as
   * `maxRequestsPerSecond` lets start in a second, so the first second is not spent waiting for
   * answers (the pacer never has more out than that anyway).
   */
  maxConcurrentRequests?: number
  /** A request that has not answered after this many ms (1 to 2147483647) is abandoned and retried. Default `15000`. */
  requestTimeout?: number
  /** Most engagements kept in the outbox, a whole number, at least 1; beyond it the oldest are dropped (and reported). Default `10000`. */
  maxQueueSize?: number
  /** Most engagements held while no contact is known, a whole number, at least 0; beyond it the oldest are dropped. Default `100`. */
  maxHeld?: number
  /** Engagements not delivered this many ms (at least 1) after they were tracked are dropped. Default 7 days. */
  maxAge?: number
  /** Ceiling of the first retry's random delay, in ms (1 to 2147483647); it doubles per failure. Default `1000`. */
  retryBaseDelay?: number
  /** Ceiling of any retry delay, in ms (1 to 2147483647). Default `300000` (5 minutes). */
  retryMaxDelay?: number
  /** Keeps the outboxes of several trackers on one origin apart; not empty. Default `'default'`. */
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
  retry: BackoffPolicy
  name: string
  /** Where this tracker's outbox, channel, locks and shared slots live: `conversion-engagements:<name>`. */
  namespace: string
  debug: boolean
  onError: ((error: TrackerError) => void) | undefined
  platform: Platform
}

/** The longest delay a browser timer takes; a longer one fires at once. */
const TIMER_MAX_MS = 2_147_483_647

/**
 * Each numeric option: its default, then what it accepts, from `least` to `most`, and only whole
 * numbers where it counts things (a fraction there would slip past a cap or make IndexedDB
 * throw). Timers take at most {@link TIMER_MAX_MS}. The README's option table is checked against
 * the defaults `resolveOptions` applies.
 */
const NUMBERS: Record<string, [fallback: number, least: number, most: number, whole?: 1]> = {
  flushAt: [20, 1, Infinity, 1],
  flushInterval: [5_000, 0, TIMER_MAX_MS],
  maxBatchSize: [LIMITS.batchSize, 1, LIMITS.batchSize, 1],
  maxBatchBytes: [262_144, 1_024, LIMITS.requestBytes],
  maxRequestsPerSecond: [LIMITS.requestsPerSecond, 1, LIMITS.requestsPerSecond, 1],
  maxConcurrentRequests: [10, 1, Infinity, 1],
  requestTimeout: [15_000, 1, TIMER_MAX_MS],
  maxQueueSize: [10_000, 1, Infinity, 1],
  maxHeld: [100, 0, Infinity, 1],
  // 7 days.
  maxAge: [604_800_000, 1, Infinity],
  retryBaseDelay: [1_000, 1, TIMER_MAX_MS],
  retryMaxDelay: [300_000, 1, TIMER_MAX_MS],
}

/**
 * Fills in defaults and checks every option, once, so nothing downstream needs a fallback.
 * Throws only for a missing endpoint: without one nothing can work. Any other invalid option
 * (wrong type, NaN, out of range) goes to `reportInvalid`, naming the option, the value and
 * what it accepts, and its default is used: the tracker never throws into the page for less.
 */
export function resolveOptions(
  options: TrackerOptions,
  platform: Platform,
  reportInvalid: (error: TrackerError) => void = () => undefined,
): ResolvedOptions {
  if (typeof options?.endpoint !== 'string' || !options.endpoint) {
    throw new TypeError("createTracker needs an endpoint, your proxy's URL")
  }
  const given = options as unknown as Record<string, unknown>
  const resolved: Record<string, unknown> = { endpoint: options.endpoint, platform }
  const check = (name: string, fallback: unknown, fits: (value: never) => unknown, expected: string) => {
    const value = given[name]
    resolved[name] = value ?? fallback
    if (value === undefined || fits(value as never)) return
    // An object without a prototype has no toString (nor has a symbol, once the script tag writes String(x) as x + "").
    const shown = attempt(() => (typeof value === 'string' ? JSON.stringify(value) : String(value))) ?? typeof value
    reportInvalid({
      code: 'invalid',
      field: name,
      rule: typeof value === typeof fallback ? 'range' : 'type',
      message: `option ${name} must be ${expected}, not ${shown}: the default is used`,
    })
    resolved[name] = fallback
  }
  check('name', 'default', (value: unknown) => typeof value === 'string' && value, 'a non-empty string')
  check('debug', false, (value: unknown) => typeof value === 'boolean', 'true or false')
  check('onError', undefined, (value: unknown) => typeof value === 'function', 'a function')
  for (const name in NUMBERS) {
    const [fallback, least, most, whole] = NUMBERS[name]!
    check(
      name,
      fallback,
      (value: number) => typeof value === 'number' && value >= least && value <= most && (!whole || Number.isInteger(value)),
      `a ${whole ? 'whole ' : ''}number from ${least} to ${most}`,
    )
  }
  resolved.retry = { baseMs: resolved.retryBaseDelay, maxMs: resolved.retryMaxDelay }
  resolved.namespace = `conversion-engagements:${resolved.name}`
  return resolved as unknown as ResolvedOptions
}
