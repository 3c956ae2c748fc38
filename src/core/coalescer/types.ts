/**
 * The Coalescer's vocabulary: what it holds (parcels), what it asks of its ports (a pacer and a
 * memory of delivered engagements), and what it answers.
 */
import type { Settlement } from '../../contract.js'
import type { Outcome } from '../outcome.js'

/**
 * One validated engagement as the Coalescer holds it: its JSON text, never an object tree (a
 * `data` of empty objects costs 21 times its JSON as a tree), with the digest that binds its id to
 * its content. Build it with `toParcel`.
 */
export interface Parcel {
  id: string
  /**
   * 32 hex digits: a 64-bit fingerprint of the id, then a 64-bit fingerprint of the whole JSON
   * text (contact included). The same id with another digest is a conflict, never a duplicate.
   */
  digest: string
  /** The engagement as forwarded to Conversion. */
  json: string
  /** Bytes `json` adds to an upstream request body (UTF-8). */
  wireBytes: number
  /** What holding it costs, in bytes of memory: the strings as the engine stores them, and bookkeeping. */
  heldBytes: number
}

/** What the memory knows of one engagement. */
export type Recall =
  /** Never delivered: claimed for this sender until it acknowledges or releases it. */
  | 'new'
  /** Delivered before, with the same content. */
  | 'known'
  /** Delivered before (or being delivered) with other content under the same id. */
  | 'conflict'
  /** Being delivered right now by another sender of the key: ask again later. */
  | 'pending'

/** An engagement as the memory sees it. */
export type MemoryKey = Pick<Parcel, 'id' | 'digest'>

/**
 * The memory of delivered engagements: what lets a re-send be answered as a duplicate instead of
 * reaching Conversion twice. Each method may answer at once (memory) or with a promise (a file, a
 * Durable Object's storage, Redis). Calls come one client request or one upstream batch at a time.
 */
export interface DeliveryMemory {
  /** What is known of each key, in order; `new` ones are claimed for this sender. */
  recall(keys: readonly MemoryKey[], now: number): readonly Recall[] | Promise<readonly Recall[]>
  /** Conversion acknowledged these (one upstream batch) at `at`. */
  acknowledge(keys: readonly MemoryKey[], at: number): void | Promise<void>
  /** These were claimed and will not be sent by this sender now: others may claim them. */
  release(keys: readonly MemoryKey[]): void | Promise<void>
  /** How many engagements are remembered; an estimate is fine. */
  size(): number
}

/** A slot to start one upstream request, held until its answer lands. */
export interface PacerSlot {
  /** The answer came at `at` (or the request was abandoned then). */
  land(at: number): void
}

/** The answer of a pacer: start now with this slot, or wait. */
export type Reservation = { granted: true; slot: PacerSlot } | { granted: false; waitMs: number }

/**
 * "May I start an upstream request now, or when?", for every sender of one API key. In process:
 * sliding-window arithmetic; on Cloudflare, the Durable Object's; in a fleet, a shared store's.
 * `waitMs` is `Infinity` when room comes only with an answer still awaited here.
 */
export interface SharedPacer {
  reserve(now: number): Reservation | Promise<Reservation>
  /** Starts that hold a slot at `now`, when the pacer can tell (for stats). */
  recent?(now: number): number[]
  /** How long a start at `now` would wait, when the pacer can tell without asking anyone (for stats). */
  wait?(now: number): number
}

/** Sends one batch upstream and says what became of it. It must settle: apply a timeout. */
export type BatchSender = (batch: readonly Parcel[]) => Promise<Outcome>

/**
 * How a submit ended:
 * - `settled`: every engagement was accepted now, delivered earlier (`duplicates`, and their ids
 *   in `duplicateIds` when the submit asked for them) or rejected
 *   for good (a conflicting id, a refusal by Conversion, an exhausted isolation budget);
 * - `throttled`: this client holds more than its share; it keeps its data and retries later (429);
 * - `busy`: the proxy is full, or the deadline passed (the engagements stay queued and a re-send
 *   is answered as duplicates); the client retries after `retryAfterMs` (503);
 * - `unavailable`: Conversion refuses our key or route, or the Coalescer is closed (503).
 */
export type SubmitResult =
  | ({ kind: 'settled'; duplicateIds?: string[] } & Settlement)
  | { kind: 'throttled'; retryAfterMs: number; reason: string }
  | { kind: 'busy'; retryAfterMs: number; reason: string }
  | { kind: 'unavailable'; retryAfterMs: number; reason: string }

/** A submit that was not settled. */
export type Refusal = Exclude<SubmitResult, { kind: 'settled' }>

/** How to hand over one client request. */
export interface SubmitOptions {
  /** Who sent it (an address): backlog and upstream slots are shared fairly between clients. */
  client?: string | undefined
  /** How long it may wait for its engagements to settle, in ms. Default: the `deadlineMs` option. */
  deadlineMs?: number | undefined
  /** List, in a settled answer, the ids counted as duplicates (for senders that answer per engagement). */
  listDuplicates?: boolean | undefined
}

/** One Coalescer: many client requests in, paced and de-duplicated upstream batches out. */
export interface Coalescer {
  /**
   * Hands over the engagements of ONE client request (validated already) and resolves when every
   * one is settled, or with a refusal. Never rejects.
   */
  submit(parcels: readonly Parcel[], options?: SubmitOptions): Promise<SubmitResult>
  stats(): CoalescerStats
  /** Cancels every timer; open and later submits resolve `unavailable`. Requests in flight finish. */
  close(): void
}

/** What the Coalescer holds and has done, for health checks, metrics and tests. */
export interface CoalescerStats {
  /** Engagements waiting to be sent. */
  backlog: number
  /** Engagements in requests awaiting their answer. */
  inFlight: number
  requestsInFlight: number
  /** Engagements held in any state, against `maxBacklog`. */
  held: number
  maxBacklog: number
  /** Bytes of memory the held engagements cost, against `maxHeldBytes`. */
  heldBytes: number
  maxHeldBytes: number
  /** Clients with engagements held. */
  clients: number
  /** Submits not answered yet. */
  openSubmits: number
  /** The pacer: starts holding a slot, the limit, the window, and the wait before the next start (when it can tell). */
  window: { starts: number; limit: number; windowMs: number; nextStartInMs: number }
  /** Most bytes in one upstream request now (a 413 lowers it). */
  maxBatchBytes: number
  /** Time left of the backoff after a failure, in ms; 0 when none. */
  backoffMs: number
  /** Failures in a row that set the backoff. */
  failures: number
  /** Why and for how long upstream is not tried (after a `halt`); undefined when sending. */
  halted: { reason: string; retryAfterMs: number } | undefined
  /** Engagements in the memory of delivered ones. */
  remembered: number
  /** Refusals remembered, so that their re-sends are answered without sending them. */
  refusals: number
  totals: CoalescerTotals
}

/** Counters since the Coalescer was created. */
export interface CoalescerTotals {
  /** Submits received, refused ones included. */
  submits: number
  /** Engagements received, refused ones included. */
  engagements: number
  accepted: number
  duplicates: number
  rejected: number
  /** Engagements rejected because their id was taken by other content. */
  conflicts: number
  /** Submits answered `throttled`, `busy` and `unavailable`. */
  throttled: number
  busy: number
  unavailable: number
  /** Upstream request starts, retries and isolation included. */
  requests: number
  /** `retry` outcomes. */
  retries: number
  /** Upstream requests sent to isolate what Conversion refused. */
  isolations: number
  /** Calls to the memory that failed. */
  memoryFailures: number
}
