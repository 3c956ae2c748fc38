/**
 * What the delivery state (delivery-state.ts) and its driver (delivery.ts) say to each other:
 * the steps the state asks for, and the effects of a read or an answer.
 */
import type { ResolvedOptions } from './options.js'
import type { OutboxEntry } from './outbox.js'
import type { RetryState } from './settings.js'
import type { TrackerEvent, TrackerStats } from './types.js'

/** What the delivery decisions need of the options. */
export type DeliveryLimits = Pick<
  ResolvedOptions,
  'flushAt' | 'maxBatchSize' | 'maxBatchBytes' | 'maxRequestsPerSecond' | 'maxConcurrentRequests' | 'maxAge' | 'requestTimeout' | 'retry'
>

/** A request started: the entries it carries, its body, and the pacer slot it holds until its answer. */
export interface Outgoing {
  /** Emptied when its answer split it: its halves hold the entries from then on. */
  entries: OutboxEntry[]
  body: string
  slot: number
}

/** What the driver does next, when the state is asked at `now`. */
export type Step =
  /** Nothing to send, or sending is not allowed: the pass ends once the requests out have answered. */
  | { kind: 'done' }
  /** Read up to `limit` entries of the outbox past `after` (from the oldest when undefined), then hand the rows to `read`. */
  | { kind: 'read'; after: OutboxEntry | undefined; limit: number }
  /** Ask again after `ms`, or sooner when something changes (an answer, entries stored); when `ms` is Infinity, only then. */
  | { kind: 'wait'; ms: number }
  /** Start this request (its pacer slot is taken). */
  | { kind: 'send'; outgoing: Outgoing }

export const DONE: Step = { kind: 'done' }
export const WAIT: Step = { kind: 'wait', ms: Infinity }

/** What an answer (or a read) makes the driver do, in this order. */
export interface Effects {
  /** Entries to delete from the outbox and announce to other tabs as gone. */
  remove?: OutboxEntry[] | undefined
  /** Backoff to store, so a reload does not retry early. */
  saveRetry?: RetryState | undefined
  events?: TrackerEvent[]
  /** Drain again after this many ms. */
  wakeInMs?: number | undefined
}

/** What `stats()` reports of delivery. */
export type DeliveryStats = Pick<TrackerStats, 'inFlight' | 'retryAt' | 'halted' | 'recentRequests'>

/** The engagement ids of entries, as events name them. */
export const idsOf = (entries: readonly OutboxEntry[]): string[] => entries.map((entry) => entry.engagement.id)
