/** Settings of {@link backoffDelay}. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay, in ms. */
  baseMs: number
  /** Ceiling of any delay, in ms. */
  maxMs: number
}

/**
 * Exponential backoff with full jitter: a uniformly random delay between 0 and
 * `min(maxMs, baseMs * 2^failures)`, so many clients that failed together do not retry together.
 * `random` returns a number in [0, 1).
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures, 30))
  return Math.floor(random() * ceiling)
}

/** Longest `Retry-After` obeyed, so a wrong header cannot park a queue for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000

/** The delay before the next attempt: `Retry-After` when the receiver gave one, else backoff. */
export function retryDelay(outcome: { afterMs?: number }, failures: number, policy: BackoffPolicy, random: () => number): number {
  return outcome.afterMs === undefined ? backoffDelay(failures, policy, random) : Math.min(outcome.afterMs, MAX_RETRY_AFTER_MS)
}
