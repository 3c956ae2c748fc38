/**
 * What each figure is held against, and why. Size budgets live in `bench/budgets.json`, where the
 * CI size check reads them; the others are here. A figure misses when it is more than 5% on the
 * wrong side of its ceiling.
 */
export const TOLERANCE = 0.05

export const CEILINGS = {
  /** One `track()` call, median: 1,000 calls must fit in one long-task budget (50 ms). */
  trackMedianMs: 0.05,
  /** One `track()` call, p99: never a noticeable part of a frame (1 ms of a 16.7 ms frame). */
  trackP99Ms: 1,
  /** A task longer than this is a long task: it delays the page's answer to input. */
  longTaskMs: 50,
  /** One `track()` call in a loop of 10,000 in one task, microseconds: faster than the fastest peer measured (Amplitude, 17 us). */
  burstCallUs: 8,
  /** The tracker's own work deferred into the caller's task (its microtasks) after that loop. */
  deferredMs: 20,
  /** track() to durable, p99: durable before a navigation's next page paints. */
  durableP99Ms: 100,
  /** Conversion's documented ceiling: 10 requests per second of 200 engagements. */
  upstreamPerSecond: 2_000,
  /** A page's first ten requests (one full second's worth) leave within the first second of tracking. */
  firstRoundMs: 1_000,
  /** CPU of a 1-engagement request at the Node proxy against a plain node:http server reading the same body. */
  proxyCpuRatio: 2,
  /** CPU per engagement of a 200-engagement request at the Node proxy, microseconds. */
  proxyCpuPerEngagementUs: 5,
  /** Requests Conversion may see in any sliding second. */
  upstreamRequestsPerSecond: 10,
  /** The outbox reads a batch, appends and holds memory in proportion to what it touches, not to its backlog. */
  backlogRatio: 1,
  /** The bulk import keeps Conversion's ceiling this busy, all its time included (start, the last partial second). */
  importShare: 0.9,
  /** The import's memory is flat: its peak over the whole file against its peak over the first quarter. */
  importMemoryGrowth: 1.25,
  /** Page heap the outbox may grow by for a backlog of any size (its in-memory mirror is capped at 1,000 entries). */
  heapGrowthBytes: 1_000_000,
}

/**
 * `ok` or `MISS` for `value` held against `ceiling`: `max` figures must stay at or below it,
 * `min` figures at or above it, `zero` figures at 0; within 5% is ok.
 */
export function verdict(value, ceiling, direction) {
  if (direction === 'zero') return value === 0 ? 'ok' : 'MISS'
  if (!Number.isFinite(value)) return 'MISS'
  const ratio = value / ceiling
  if (direction === 'max') return ratio <= 1 + TOLERANCE ? 'ok' : 'MISS'
  return ratio >= 1 - TOLERANCE ? 'ok' : 'MISS'
}
