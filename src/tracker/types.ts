import type { EngagementData } from '../contract.js'

/** What `track()` takes. Only `type` is required. */
export interface TrackInput {
  /** The engagement's type, such as `PRODUCT_ACTIVITY`. 1 to 100 characters. */
  type: string
  /** Short title, such as `Product Demo Completed`. At most 256 characters. */
  name?: string
  /** Longer text. At most 4,096 characters. */
  description?: string
  /** Key/value metadata: a plain object of JSON values, at most 16 KiB as JSON, 10 levels deep. */
  data?: EngagementData
  /**
   * Unique id, used to count the engagement once however often it is re-sent. Default: a
   * random UUID. 1 to 128 letters, digits, `_`, `.`, `:` or `-`.
   */
  id?: string
  /** When it happened: a `Date`, epoch milliseconds or an ISO 8601 string. Default: now. */
  createdAt?: Date | number | string
  /** The contact. Default: the one given to `identify()`. */
  contactEmail?: string
}

/** Why something did not happen. */
export interface TrackerError {
  /**
   * - `invalid`: the input breaks a rule (`field` and `rule` say which);
   * - `opted-out`: tracking is off after `optOut()`;
   * - `closed`: the tracker was shut down;
   * - `unsupported`: not in a browser (server rendering), nothing is tracked;
   * - `halted`: the proxy refused the tracker (401, 403, 404, 405): sending stopped, data kept;
   * - `storage`: IndexedDB failed, engagements are kept in memory only;
   * - `protocol`: the proxy answered something that is not the wire contract;
   * - `internal`: a bug; please report it.
   */
  code: 'invalid' | 'opted-out' | 'closed' | 'unsupported' | 'halted' | 'storage' | 'protocol' | 'internal'
  /** A sentence for people. Never holds secrets. */
  message: string
  /** For `invalid`: the offending field, such as `contactEmail` or `data.items[2]`. */
  field?: string
  /** For `invalid`: the broken rule, such as `required`, `max` or `format`. */
  rule?: string
}

/** An `invalid` error: `field` breaks `rule`, as `message` says; the message leads with the field. */
export function invalid(field: string, rule: string, message: string): TrackerError {
  return { code: 'invalid', field, rule, message: `${field} ${message}` }
}

/** What `track()` returns: the engagement's id once it is queued, or why it was not. */
export type TrackResult = { ok: true; id: string } | { ok: false; error: TrackerError }

/** What `identify()` and the other commands return. */
export type CommandResult = { ok: true } | { ok: false; error: TrackerError }

/** Why engagements were dropped without being delivered. */
export type DropReason = 'queue-full' | 'held-full' | 'expired' | 'opted-out'

/** Something that happened, for `subscribe()`. */
export type TrackerEvent =
  /** Written to the outbox (`held` while no contact is known). */
  | { type: 'queued'; id: string; held: boolean }
  /** A request started (one per fetch or beacon): what the pacer counts. */
  | { type: 'request'; transport: 'fetch' | 'beacon'; ids: string[]; bytes: number }
  /** The proxy settled a request: these engagements are delivered (or were already). */
  | { type: 'sent'; ids: string[]; accepted: number; duplicates: number }
  /** A request failed for now; its engagements stay queued and are sent again after `delayMs`. */
  | { type: 'retried'; ids: string[]; failures: number; delayMs: number; reason: string }
  /** The proxy refused an engagement for good; it left the outbox. */
  | { type: 'rejected'; id: string; reason: string }
  /** Engagements left the outbox undelivered. */
  | { type: 'dropped'; ids: string[]; reason: DropReason }
  /** An error, also passed to the `onError` option. */
  | { type: 'error'; error: TrackerError }

/** A snapshot of the tracker, for dashboards and tests. */
export interface TrackerStats {
  /** Engagements waiting in the outbox of this origin, held ones included. */
  queued: number
  /** Of those, waiting for a contact. */
  held: number
  /** Engagements in requests that have not answered yet. */
  inFlight: number
  /** Counted since this page loaded. */
  sent: number
  retried: number
  rejected: number
  dropped: number
  /** Whether this tab is the one that sends for the origin. */
  leader: boolean
  /** Where the outbox lives; `memory` after IndexedDB failed. */
  storage: 'indexeddb' | 'memory'
  online: boolean
  /** Epoch ms before which no request starts (backoff), if any. */
  retryAt?: number
  /** Why sending stopped, if the proxy refused the tracker. */
  halted?: string
  /**
   * The pacer's view: for each request that still holds one of the `maxRequestsPerSecond`
   * slots (from its start until a second after its answer), when it frees it, epoch ms,
   * soonest first.
   */
  recentRequests: number[]
}

/** The tracker. Every method is safe to call at any time and never throws. */
export interface Tracker {
  /**
   * Records an engagement: validated, written to the outbox, sent in a later batch.
   * @example tracker.track({ type: 'PRODUCT_ACTIVITY', name: 'Report exported', data: { format: 'csv' } })
   */
  track(input: TrackInput): TrackResult
  /**
   * Sets the contact of later engagements (and of those held so far). `signature` is the
   * HMAC your backend made with `signIdentity(email, secret)` when the proxy verifies identities.
   */
  identify(email: string, options?: { signature?: string }): CommandResult
  /** Forgets the contact (logout). Engagements already queued keep theirs. */
  reset(): void
  /** Stops tracking and deletes what is queued, on this origin, until `optIn()`; survives reloads. */
  optOut(): void
  /** Resumes tracking after `optOut()`. */
  optIn(): void
  /** Sends what is queued now; resolves when it is settled or scheduled for retry. Never rejects. */
  flush(): Promise<void>
  /** Listens to what happens; returns the function that stops listening. */
  subscribe(listener: (event: TrackerEvent) => void): () => void
  /** A snapshot of the queue and the sender. */
  stats(): Promise<TrackerStats>
  /** Flushes, then stops timers, listeners and leadership. Later calls report `closed`. */
  shutdown(): Promise<void>
}
