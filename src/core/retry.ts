/**
 * What to do after a request, decided once from its status so every sender acts alike:
 * - `ok`: the receiver took the batch (its body says what became of each item);
 * - `retry`: nothing was taken; send the same items again later (`afterMs` from `Retry-After`);
 * - `split`: the batch as a whole was refused; send its halves to isolate the offenders;
 * - `reject`: a single item was refused for good;
 * - `halt`: the sender is not allowed (key, origin, endpoint): stop and keep the data.
 */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'retry'; reason: string; afterMs?: number }
  | { kind: 'split'; reason: string }
  | { kind: 'reject'; reason: string }
  | { kind: 'halt'; reason: string }

/** What a response said, reduced to what {@link classify} needs. */
export interface ResponseFacts {
  status: number
  /** The `Retry-After` header, if any. */
  retryAfter: string | null
  /** The `message` of an error body, if any. */
  message?: string | undefined
  /** Items in the request. */
  batchSize: number
  /** Current wall-clock time in ms, to read a `Retry-After` given as an HTTP date. */
  now: number
}

export function classify({ status, retryAfter, message, batchSize, now }: ResponseFacts): Outcome {
  const reason = message ? `HTTP ${status}: ${message}` : `HTTP ${status}`
  if (status >= 200 && status < 300) return { kind: 'ok' }
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const afterMs = parseRetryAfter(retryAfter, now)
    return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs }
  }
  if (status === 401 || status === 403 || status === 404 || status === 405) return { kind: 'halt', reason }
  // 400, 413, 422 and the rest of 4xx: something in the batch is refused.
  return batchSize > 1 ? { kind: 'split', reason } : { kind: 'reject', reason }
}

/**
 * `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date; undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP date names its day and month; `Date.parse` alone would take "-5" for a year.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

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
export function retryDelay(
  outcome: { afterMs?: number },
  failures: number,
  policy: BackoffPolicy,
  random: () => number,
): number {
  return outcome.afterMs === undefined
    ? backoffDelay(failures, policy, random)
    : Math.min(outcome.afterMs, MAX_RETRY_AFTER_MS)
}
