/**
 * What became of one HTTP request, decided once from its answer so that every sender (the
 * tracker towards the proxy, the Coalescer towards Conversion) acts alike. Each kind keeps the
 * HTTP status, so nothing downstream reads prose to tell a 413 from a 400.
 */

/**
 * - `ok`: the receiver took the batch (its body says what became of each item);
 * - `retry`: nothing was taken; send the same items again later (`afterMs` from `Retry-After`).
 *   `status` is undefined when no answer came (network error, timeout);
 * - `too-large`: the body was too large (413): send smaller bodies;
 * - `refused`: the batch was refused for what it holds (400, 422, other 4xx). A batch of one
 *   is rejected for good; a larger one is split to isolate the offenders;
 * - `halt`: the sender is not allowed (key, origin, endpoint): stop and keep the data.
 */
export type Outcome =
  | { kind: 'ok'; status: number }
  | { kind: 'retry'; status: number | undefined; reason: string; afterMs?: number }
  | { kind: 'too-large'; status: number; reason: string }
  | { kind: 'refused'; status: number; reason: string }
  | { kind: 'halt'; status: number; reason: string }

/** An outcome other than `ok`. */
export type Failure = Exclude<Outcome, { kind: 'ok' }>

/** What a response said, reduced to what {@link classify} needs. */
export interface ResponseFacts {
  status: number
  /** The `Retry-After` header, if any. */
  retryAfter: string | null
  /** The `message` of an error body, if any. */
  message?: string | undefined
  /** Current wall-clock time in ms, to read a `Retry-After` given as an HTTP date. */
  now: number
}

/** The outcome of an answer, from its status (and `Retry-After`). */
export function classify({ status, retryAfter, message, now }: ResponseFacts): Outcome {
  if (status >= 200 && status < 300) return { kind: 'ok', status }
  const reason = message ? `HTTP ${status}: ${message}` : `HTTP ${status}`
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const afterMs = parseRetryAfter(retryAfter, now)
    return afterMs === undefined ? { kind: 'retry', status, reason } : { kind: 'retry', status, reason, afterMs }
  }
  if (status === 401 || status === 403 || status === 404 || status === 405) return { kind: 'halt', status, reason }
  if (status === 413) return { kind: 'too-large', status, reason }
  return { kind: 'refused', status, reason }
}

/** The outcome of a request that got no answer. */
export function unanswered(reason: string): Failure {
  return { kind: 'retry', status: undefined, reason }
}

/**
 * `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date; undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return +text * 1000
  // An HTTP date names its day and month; `Date.parse` alone would take "-5" for a year.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
