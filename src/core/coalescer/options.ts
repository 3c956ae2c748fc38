/** The Coalescer's options, normalized once into {@link CoalescerSettings}. */
import { LIMITS } from '../../contract.js'
import { optionReader } from '../options.js'
import { createPacer } from '../pacer.js'
import type { BackoffPolicy } from '../retry.js'
import { createMemory } from '../memory.js'
import { localPacer } from './local-pacer.js'
import type { BatchSender, DeliveryMemory, SharedPacer } from './types.js'

/** Time and timers, injected so that tests (and Durable Objects) decide what time it is. */
export interface CoalescerClock {
  /** Current time in epoch ms. */
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Defaults of the Coalescer, written once (the README's option tables are tested against them). */
export const COALESCER_DEFAULTS = {
  maxRequestsPerSecond: LIMITS.requestsPerSecond,
  batchSize: LIMITS.batchSize,
  /** Below the 1 MiB that Conversion's emulator takes, with room for the envelope. */
  maxBatchBytes: 1_000_000,
  pacingMarginMs: 5,
  retry: { baseMs: 1_000, maxMs: 30_000 },
  deadlineMs: 8_000,
  maxHeldBytes: 64 * 1_048_576,
  clientShare: 0.25,
  isolationBudget: 50,
  haltCooldownMs: 60_000,
} as const

/**
 * Options of `createCoalescer`. `send`, `clock` and `random` are required: the core reaches for no
 * platform facility on its own.
 */
export interface CoalescerOptions {
  /** Sends one batch upstream; a rejected promise counts as `retry`. */
  send: BatchSender
  clock: CoalescerClock
  /** A number in [0, 1), for backoff jitter. */
  random: () => number
  /** Most upstream request starts in any sliding window, 1 to 10. Default `10` (Conversion's limit per key). */
  maxRequestsPerSecond?: number
  /** Most engagements in one upstream request, 1 to 200. Default `200` (Conversion's limit). */
  batchSize?: number
  /** Most bytes of one upstream request body; a 413 from Conversion lowers it. Default `1000000`. */
  maxBatchBytes?: number
  /**
   * Added to the 1,000 ms window, in ms. Default `5`. A request holds its slot from its start
   * until a window after its answer: only then is it certain that Conversion received it more than
   * a second before the next one, whatever the network did to either.
   */
  pacingMarginMs?: number
  /** Backoff after a failure without `Retry-After`: exponential, full jitter. Default `{ baseMs: 1000, maxMs: 30000 }`. */
  retry?: Partial<BackoffPolicy>
  /** How long a submit may wait for its engagements to settle before it is answered `busy`, in ms. Default `8000`. */
  deadlineMs?: number
  /**
   * Most engagements held at once (waiting, in flight, or being remembered). Default: what can be
   * sent within `deadlineMs` at full rate. Never below 200, the size of one client request.
   */
  maxBacklog?: number
  /** Most bytes of memory the held engagements may cost (their JSON text and bookkeeping). Default 64 MiB. */
  maxHeldBytes?: number
  /**
   * The share of `maxBacklog` and `maxHeldBytes` that one identified client may hold, above 0 and
   * at most 1; beyond it that client is answered `throttled`. Default `0.25`.
   */
  clientShare?: number
  /**
   * Upstream requests that isolating what Conversion refused may cost per client request, charged
   * as they leave. Past it, the engagements still suspected are rejected with `unchecked: true`
   * and a reason that says so; sent again among others they get the same answer (a re-send buys
   * no more work), sent in a request of their own they are checked. Default `50`: enough to find
   * a few refused engagements among 200 by halving (one costs about 12 requests).
   */
  isolationBudget?: number
  /** After a `halt` (401, 403, 404), how long every submit is answered `unavailable`, in ms. Default `60000`. */
  haltCooldownMs?: number
  /** The memory of delivered engagements. Default: in this process (see `createMemory`). */
  memory?: DeliveryMemory
  /** A pacer shared with every other sender of the key. Default: this Coalescer's own. */
  pacer?: SharedPacer
}

/** The options, checked and complete. */
export interface CoalescerSettings {
  send: BatchSender
  clock: CoalescerClock
  random: () => number
  requestsPerWindow: number
  windowMs: number
  batchSize: number
  maxBatchBytes: number
  retry: BackoffPolicy
  deadlineMs: number
  maxBacklog: number
  maxHeldBytes: number
  clientShare: number
  isolationBudget: number
  haltCooldownMs: number
  memory: DeliveryMemory
  pacer: SharedPacer
}

const WINDOW_MS = 1_000
const read = optionReader('conversion-engagements coalescer')

/** The pacing window of these options: `maxRequestsPerSecond` per (1,000 ms + margin). */
export function pacingOf(options: Pick<CoalescerOptions, 'maxRequestsPerSecond' | 'pacingMarginMs'>) {
  const D = COALESCER_DEFAULTS
  return {
    limit: read.number('maxRequestsPerSecond', options.maxRequestsPerSecond, D.maxRequestsPerSecond, {
      min: 1,
      max: LIMITS.requestsPerSecond,
      integer: true,
    }),
    windowMs: WINDOW_MS + read.number('pacingMarginMs', options.pacingMarginMs, D.pacingMarginMs, { min: 0, max: WINDOW_MS }),
  }
}

/**
 * The pacer a Coalescer builds for itself from these options, for several Coalescers that send
 * with one key in one process to share (the per-isolate Worker).
 */
export function createCoalescerPacer(options: Pick<CoalescerOptions, 'maxRequestsPerSecond' | 'pacingMarginMs'> = {}): SharedPacer {
  return localPacer(createPacer(pacingOf(options)))
}

export function resolveCoalescerOptions(options: CoalescerOptions): CoalescerSettings {
  const D = COALESCER_DEFAULTS
  if (typeof options?.send !== 'function') read.fail('send', 'a function that sends one batch upstream')
  if (typeof options.clock?.now !== 'function') read.fail('clock', 'an object with now, setTimeout and clearTimeout')
  if (typeof options.random !== 'function') read.fail('random', 'a function returning a number in [0, 1)')
  const { limit, windowMs } = pacingOf(options)
  const batchSize = read.number('batchSize', options.batchSize, D.batchSize, { min: 1, max: LIMITS.batchSize, integer: true })
  const deadlineMs = read.number('deadlineMs', options.deadlineMs, D.deadlineMs, { min: 1 })
  // Never below one client request, or a slow configuration would refuse everything.
  const fullRate = Math.max(LIMITS.batchSize, Math.floor((deadlineMs / windowMs) * limit * batchSize))
  return {
    send: options.send,
    clock: options.clock,
    random: options.random,
    requestsPerWindow: limit,
    windowMs,
    batchSize,
    maxBatchBytes: read.number('maxBatchBytes', options.maxBatchBytes, D.maxBatchBytes, { min: 1_024, integer: true }),
    retry: {
      baseMs: read.number('retry.baseMs', options.retry?.baseMs, D.retry.baseMs, { min: 1 }),
      maxMs: read.number('retry.maxMs', options.retry?.maxMs, D.retry.maxMs, { min: 1 }),
    },
    deadlineMs,
    maxBacklog: read.number('maxBacklog', options.maxBacklog, fullRate, { min: LIMITS.batchSize, integer: true }),
    maxHeldBytes: read.number('maxHeldBytes', options.maxHeldBytes, D.maxHeldBytes, { min: 1_048_576 }),
    clientShare: read.number('clientShare', options.clientShare, D.clientShare, { min: 0.01, max: 1 }),
    isolationBudget: read.number('isolationBudget', options.isolationBudget, D.isolationBudget, { min: 0, integer: true }),
    haltCooldownMs: read.number('haltCooldownMs', options.haltCooldownMs, D.haltCooldownMs, { min: 0 }),
    memory: options.memory ?? createMemory(),
    pacer: options.pacer ?? localPacer(createPacer({ limit, windowMs })),
  }
}
