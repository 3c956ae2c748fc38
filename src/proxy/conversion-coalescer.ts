/**
 * A Coalescer that sends to Conversion on the platform's own fetch, timers and randomness: the one
 * the Node proxy, the Durable Object and the per-isolate Worker each run.
 */
import { createCoalescer, type Coalescer, type CoalescerClock, type CoalescerOptions } from '../core/coalescer/index.js'
import { PROXY_DEFAULTS } from './options.js'
import { createUpstream } from './upstream.js'

/** Options of {@link createConversionCoalescer}: the Coalescer's, with Conversion in place of `send`. */
export interface ConversionCoalescerOptions extends Omit<CoalescerOptions, 'send' | 'clock' | 'random'> {
  apiKey: string
  /** Conversion's API base; the route is appended. */
  upstreamUrl: string
  /** Abandon an upstream request after this many ms (and retry it). Default `10000`, as the proxy's. */
  upstreamTimeout?: number
  /** Default: the global `fetch`, looked up at each call. */
  fetch?: typeof fetch
  /** Current time in epoch ms. Default `Date.now()`. */
  now?: () => number
  /** Time and timers, instead of `now` and the platform's timers (tests). */
  clock?: CoalescerClock
  /** Default `Math.random`. */
  random?: () => number
}

export function createConversionCoalescer(options: ConversionCoalescerOptions): Coalescer {
  const {
    apiKey,
    upstreamUrl,
    upstreamTimeout = PROXY_DEFAULTS.upstreamTimeout,
    fetch: send = (input, init) => fetch(input, init),
    now = () => Date.now(),
    clock = {
      now,
      setTimeout: (callback, ms) => setTimeout(callback, ms),
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    random = Math.random,
    ...coalescerOptions
  } = options
  return createCoalescer({
    ...coalescerOptions,
    send: createUpstream({ apiKey, upstreamUrl, timeoutMs: upstreamTimeout, fetch: send, now: clock.now }),
    clock,
    random,
  })
}
