/**
 * Public types of the emulator: a strict local copy of Conversion's
 * `POST /api/v1/activities/batch`, for the demo, the tests, the benchmarks and users' own tests.
 */
import type { Engagement } from '../contract.js'

/**
 * Misbehaviour the emulator can inject, to test that senders survive a bad upstream.
 * Every fault is off by default. Faults only affect the API route, never `/__emulator/`.
 */
export interface Faults {
  /** Delay before every answer on the API route, in ms. Default `0`. */
  latencyMs: number
  /**
   * Share (0 to 1) of admitted requests answered `500 {"message"}` without recording anything.
   * Default `0`.
   */
  errorRate: number
  /**
   * Answer `429` to every authenticated request: `true` while set, a number until that time
   * (epoch ms on the emulator's clock, exclusive), `false` never. Default `false`.
   */
  rateLimitStorm: boolean | number
  /**
   * Seconds to send in `Retry-After` on every `429`; `null` sends no header, as the real API
   * documents none. Default `null`.
   */
  retryAfterSeconds: number | null
  /**
   * Share (0 to 1) of admitted requests that never answer: they wait, without a timer, until the
   * request's `signal` aborts, then reject with its reason, as `fetch` does. Default `0`.
   */
  hangRate: number
  /**
   * Engagement types refused: a batch holding an engagement of one of these types is answered
   * `400 {"message"}` naming the first one, and nothing of the batch is recorded, as Conversion
   * refuses a whole batch for one engagement it will not take. A sender must then isolate the
   * offenders (the proxy bisects) and deliver the rest. Absent (the default) or empty: none.
   * @example emulator.setFaults({ rejectTypes: ['UNWELCOME_TYPE'] })
   */
  rejectTypes?: readonly string[]
}

/** Some faults to change; those left out keep their current value. */
export type FaultSettings = { [K in keyof Faults]?: Faults[K] }

/** Waits `ms` milliseconds; rejects with `signal.reason` as soon as `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

/**
 * Options of `createEmulator()`. Only `apiKey` is required.
 * @example createEmulator({ apiKey: 'sk_test_123', faults: { errorRate: 0.1 } })
 */
export interface EmulatorOptions {
  /** The one key accepted in `X-API-Key`. Never echoed in any answer, header or log entry. */
  apiKey: string
  /** Most request starts allowed in any sliding window of `windowMs`. Default `10` (`LIMITS.requestsPerSecond`). */
  maxRequestsPerSecond?: number
  /** Length of the sliding rate window, in ms. Default `1000`. */
  windowMs?: number
  /** Most engagements in one request; more is a `400`. Default `200` (`LIMITS.batchSize`), also the ceiling. */
  maxBatchSize?: number
  /** Largest request body, in bytes; more is a `413`. Default `1048576` (`LIMITS.requestBytes`). */
  maxBodyBytes?: number
  /**
   * Most entries kept in the request log, and most engagement records kept; beyond it the
   * oldest are dropped, so a long demo stays within memory. Answers are exact up to it.
   * Default `100000`.
   */
  recordLimit?: number
  /** Faults active from the start, and again after `reset()`. Default: none. */
  faults?: FaultSettings
  /** Wall-clock time in epoch ms. Default `Date.now`. */
  now?: () => number
  /** How latency faults wait. Default: a `setTimeout` that is cleared when the signal aborts. */
  sleep?: Sleep
  /** A number in [0, 1), to sample `errorRate` and `hangRate`. Default `Math.random`. */
  random?: () => number
}

/** One engagement the emulator accepted (answered `200`). */
export interface RecordedEngagement {
  /**
   * Place among every engagement this emulator ever recorded, from 1. Never reused, not even
   * after `reset()`, so it serves as a polling cursor (`?since=<position>`).
   */
  readonly position: number
  /** Sequence number of the request that carried it (see {@link RequestLogEntry.seq}). */
  readonly requestSeq: number
  /** When that request arrived, in epoch ms on the emulator's clock. */
  readonly receivedAt: number
  /** The engagement as validated. */
  readonly engagement: Engagement
}

/** One request to the API side of the emulator (inspection routes are not logged). Never holds the key. */
export interface RequestLogEntry {
  /** Arrival order, from 1; never reused, not even after `reset()`. */
  readonly seq: number
  /** Arrival time, in epoch ms on the emulator's clock. */
  readonly at: number
  readonly method: string
  /** The URL path, without the query. */
  readonly path: string
  /** The status answered; `null` while pending, or when it never answered (hang, abort). */
  readonly status: number | null
  /** Engagements in the body's `batch` (0 when the body was not read or held no array). */
  readonly count: number
  /** Body size in bytes as read, or as declared by `Content-Length` when not read. */
  readonly bytes: number
  /** From arrival to answer (or to abandonment), in ms; `null` while pending. */
  readonly durationMs: number | null
  /** The fault that decided the answer, if one did. */
  readonly fault: 'error' | 'storm' | 'hang' | 'reject' | null
}

/** What tests and the demo can read and change while the emulator runs. */
export interface EmulatorInspection {
  /** Every recorded engagement (up to `recordLimit`, oldest first), in the order they were accepted. */
  engagements(): RecordedEngagement[]
  /** The request log (up to `recordLimit`, oldest first): a snapshot. */
  requests(): RequestLogEntry[]
  /** The id of every recorded engagement, repeats included, in the order of `engagements()`. */
  ids(): string[]
  /** Ids recorded more than once, each listed once, in order of first recording. */
  duplicates(): string[]
  /**
   * The most request starts found in any window of `windowMs` (half-open, placed anywhere),
   * counting every authenticated request on the API route, refused ones included. Exact over the
   * emulator's whole life since `reset()`, not only within `recordLimit`.
   */
  maxStartsInAnyWindow(): number
  /** The faults now active. */
  faults(): Faults
  /**
   * Changes some faults and returns all of them. Throws a `TypeError` naming the field when a
   * value is out of range.
   */
  setFaults(settings: FaultSettings): Faults
  /**
   * Forgets every record, the request log and the rate window, and restores the faults given at
   * creation. Sequence numbers and positions keep counting, so pollers' cursors stay valid.
   */
  reset(): void
}

/**
 * A strict local Conversion API: a Web-standard fetch handler plus inspection.
 *
 * Routes: `POST /api/v1/activities/batch` (the API) and, without a key, `/__emulator/`
 * (`GET engagements?since=&limit=`, `GET requests?since=&limit=`, `GET summary`,
 * `GET|POST faults`, `POST reset`), which answer CORS to any origin. The inspection routes
 * can change faults and read every recorded engagement: serve the emulator on loopback only.
 */
export interface Emulator extends EmulatorInspection {
  /** Answers one request. Detached use is fine (`export default { fetch: emulator.fetch }`). */
  readonly fetch: (request: Request) => Promise<Response>
}

/** One page of a `/__emulator/engagements` or `/__emulator/requests` answer. */
export interface InspectionPage<T> {
  /** Oldest first: those after the `since` cursor, at most `limit`. */
  items: T[]
  /** The cursor for the next poll: the last item's position (or seq), or `since` when none. */
  next: number
}
