import { LIMITS } from '../contract.js'
import { halve, takeBatch, type BatchLimits } from '../core/batch.js'
import { retryDelay } from '../core/retry.js'
import { DONE, idsOf, WAIT, type DeliveryLimits, type DeliveryStats, type Effects, type Outgoing, type Step } from './delivery-steps.js'
import { trackedAt, type OutboxEntry } from './outbox.js'
import { carriedBytes, ENVELOPE_BYTES, requestBody } from './request.js'
import type { SendResult } from './sender.js'
import { settled } from './settlement.js'
import type { RetryState } from './settings.js'

/**
 * How long a request slot stays taken after its answer: a second, plus a margin for clocks
 * that read whole milliseconds and timers that fire late.
 */
export const WINDOW_MS = 1_005
/** A beaconed entry is not sent again for this long: the beacon is most likely on its way. */
export const BEACON_GRACE_MS = 10_000

/**
 * The leader's delivery decisions, apart from time and I/O: which batch goes next, what an
 * answer does to its entries, when to wake. Every method takes the time and facts it needs and
 * returns what to do; the driver (delivery.ts) owns the timers, the reads and the requests.
 * A pass reads the outbox from the oldest entry on, past a cursor, skipping what is reserved: in
 * a request, or in `halves` (of refused batches, or sent again alone), which go first.
 *
 * Pacing holds at the proxy, where requests are counted as they arrive: there are
 * `maxRequestsPerSecond` slots, and a request holds one from its start until {@link WINDOW_MS}
 * after its answer. It reaches the proxy at some moment between the two, after a preflight,
 * a queue or a retry the page cannot see; the next request in its slot starts later than a
 * window after that moment. So any second at the proxy holds at most one arrival per slot.
 */
export function createDeliveryState(limits: DeliveryLimits, random: () => number) {
  const batchLimits: BatchLimits = { maxCount: limits.maxBatchSize, maxBytes: limits.maxBatchBytes, envelopeBytes: ENVELOPE_BYTES }
  /** Whether a beacon carried `entry` less than its grace ago. */
  const beaconed = (entry: OutboxEntry, now: number) => entry.beaconAt! > now - BEACON_GRACE_MS
  /** Until when a request that never answers (a beacon, or one another tab started) may still arrive. */
  const unanswered = (start: number) => start + limits.requestTimeout + WINDOW_MS

  /** When each pacer slot is free again, epoch ms; `Infinity` while its request awaits an answer. */
  const slots: number[] = Array(limits.maxRequestsPerSecond).fill(0)
  /** When the request in each slot started. */
  const starts: number[] = []
  /** Keys of the entries in a request or in `halves`. */
  const reserved = new Set<string>()
  /** Halves of refused batches, and engagements left unchecked (each alone), sent before anything newer. */
  const halves: OutboxEntry[][] = []
  /** Entries read ahead and not sent yet, oldest first; dropped when a pass begins, as the outbox holds them anyway. */
  let ready: OutboxEntry[] = []
  /** The last entry read; the next read starts after it. */
  let cursor: OutboxEntry | undefined
  /** The last read found nothing past the cursor, and nothing was stored or answered since. */
  let exhausted = false
  /** A drain was asked for during the pass: look from the oldest again before ending it. */
  let again = false
  let requestsOut = 0
  /** Engagements queued since the pass began, toward `flushAt`. */
  let waiting = 0
  let retry: RetryState = { failures: 0, until: 0 }
  let halted: string | undefined
  let stopped = false

  const startOver = () => {
    cursor = undefined
    exhausted = false
    ready = []
  }

  /** The slots as another tab must take them over: a request still out counts as answered once it must have been abandoned. */
  const shared = () => slots.map((free, slot) => (free < Infinity ? free : unanswered(starts[slot]!)))

  /** Takes the slot free soonest, if it is free at `now`, until `until`; its index, or -1. */
  const take = (now: number, until: number) => {
    const slot = slots.indexOf(Math.min(...slots))
    if (slots[slot]! > now) return -1
    slots[slot] = until
    starts[slot] = now
    return slot
  }

  return {
    /** A pass begins: read from the oldest, and count `flushAt` afresh. */
    begin(): void {
      startOver()
      again = false
      waiting = 0
    },

    /** A drain was asked for while a pass runs. */
    askAgain(): void {
      again = true
    },

    /** Whether a drain asked for during the pass is still owed once it ended (it ended blocked). */
    get owed(): boolean {
      return again
    },

    /** What to do next at `now`; `allowed` says whether this tab may send (the leader, online, opted in). */
    next(now: number, allowed: boolean): Step {
      if (stopped || halted || !allowed || retry.until > now) return DONE
      if (!halves.length && !ready.length) {
        if (exhausted) {
          if (requestsOut) return WAIT
          if (!again) return DONE
          again = false
          startOver()
        }
        // Read ahead, while requests are out: a batch for every slot free now, so that no free
        // slot waits for a read.
        return { kind: 'read', after: cursor, limit: Math.max(1, slots.filter((free) => free <= now).length) * limits.maxBatchSize }
      }
      if (requestsOut >= limits.maxConcurrentRequests) return WAIT
      const slot = take(now, Infinity)
      // Every slot taken: wait for the first to free, or for an answer.
      if (slot < 0) return { kind: 'wait', ms: Math.min(...slots) - now }
      const entries = halves.shift() ?? ready.splice(0, takeBatch(ready, batchLimits, carriedBytes).length)
      for (const entry of entries) reserved.add(entry.key)
      requestsOut++
      return { kind: 'send', outgoing: { entries, body: requestBody(entries), slot } }
    },

    /** Rows read past the cursor: sets them aside to send, and says what expired and when to look again. */
    read(rows: readonly OutboxEntry[], now: number): Effects {
      const expired: OutboxEntry[] = []
      let wakeInMs: number | undefined
      for (const entry of rows) {
        if (reserved.has(entry.key)) continue
        if (trackedAt(entry) < now - limits.maxAge) expired.push(entry)
        // Most likely delivered by the beacon; look again once the grace is over.
        else if (beaconed(entry, now)) wakeInMs = entry.beaconAt! + BEACON_GRACE_MS - now
        else ready.push(entry)
      }
      exhausted = !rows.length
      cursor = rows[rows.length - 1] ?? cursor
      return { remove: expired, events: expired.length ? [{ type: 'dropped', ids: idsOf(expired), reason: 'expired' }] : [], wakeInMs }
    },

    /**
     * `count` engagements were stored: a pass that found nothing reads again. Says whether to send
     * at once (`flushAt` is reached), else within `flushInterval`.
     */
    stored(count: number): boolean {
      exhausted = false
      return (waiting += count) >= limits.flushAt
    },

    /**
     * What the answer to `outgoing`, at `now`, does (a request abandoned after `requestTimeout`
     * is answered then); `online` tells a failure of the network from one of the proxy.
     */
    answer(outgoing: Outgoing, result: SendResult, now: number, online: boolean): Effects {
      // Answered: its slot counts a window more, and another request may go out meanwhile.
      slots[outgoing.slot] = now + WINDOW_MS
      requestsOut--
      const { entries } = outgoing
      const ids = idsOf(entries)
      const { kind } = result
      if (kind === 'ok') {
        const effects = settled(outgoing, result.settlement, halves)
        // Every failure sets a time, so a time says whether there is a backoff to forget.
        effects.saveRetry = retry.until ? (retry = { failures: 0, until: 0 }) : undefined
        return effects
      }
      const { reason } = result
      if (kind === 'retry') {
        // Nothing was taken: read again from the oldest on, after the backoff.
        startOver()
        if (!online) {
          // Offline is not the proxy's fault: spend no attempt, resume on `online`.
          return { events: [{ type: 'retried', ids, failures: retry.failures, delayMs: 0, reason: `offline (${reason})` }] }
        }
        const failures = retry.failures + 1
        const delayMs = retryDelay(result, failures - 1, limits.retry, random)
        retry = { failures, until: Math.max(retry.until, now + delayMs) }
        return { saveRetry: retry, events: [{ type: 'retried', ids, failures, delayMs, reason }], wakeInMs: retry.until - now }
      }
      if (kind === 'halt') {
        halted = reason
        const message = `the proxy refused (${reason}): sending stopped, engagements kept; check endpoint and allowedOrigins`
        return { events: [{ type: 'error', error: { code: 'halted', message } }] }
      }
      // Too large or refused: one alone is rejected for good, more are split to find the culprits.
      if (entries.length < 2) return { remove: entries, events: ids.map((id) => ({ type: 'rejected', id, reason })) }
      // The proxy takes less than we thought: send smaller bodies from now on.
      if (kind === 'too-large') batchLimits.maxBytes = Math.max(LIMITS.beaconBytes / 4, outgoing.body.length >> 1)
      halves.unshift(...halve(entries))
      // The halves keep its entries reserved: the request hands them over.
      outgoing.entries = []
      return {}
    },

    /** The driver acted on the answer to `outgoing` (its entries removed if they are gone): the entries it still holds are free again. */
    finish(outgoing: Outgoing): void {
      exhausted = false
      for (const entry of outgoing.entries) reserved.delete(entry.key)
    },

    /** Once a pass ended and its requests answered: ms until the backoff is over, if sending is still wanted then. */
    wakeAfterPass: (now: number): number | undefined => (halted || stopped || retry.until <= now ? undefined : retry.until - now),

    /** Beacons at `now` from the unsent entries, oldest first (those in a beacon's grace left out), each drawn with a pacer slot. */
    *beacons(unsent: readonly OutboxEntry[], now: number): Generator<OutboxEntry[]> {
      const beaconLimits = { ...batchLimits, maxBytes: LIMITS.beaconBytes }
      let rest = unsent.filter((entry) => !beaconed(entry, now))
      while (rest.length && !halted && take(now, unanswered(now)) >= 0) {
        const entries = takeBatch(rest, beaconLimits, carriedBytes)
        rest = rest.slice(entries.length)
        yield entries
      }
    },

    /** When each pacer slot is free again, epoch ms, for the tab that sends after this one. */
    shared,

    /** Takes over the slots the tab that sent before this one held: the latest of both are kept, none is freed. */
    adopt(held: number[]): void {
      // The latest held replace the soonest free while later; the rest stay in place (a request out frees its own).
      for (const free of held.filter((free) => free > 0).sort((a, b) => b - a)) {
        const slot = slots.indexOf(Math.min(...slots))
        if (free <= slots[slot]!) break
        slots[slot] = free
      }
    },

    /** Adopts backoff read from storage (at start, or when this tab becomes the leader). */
    restore(state: RetryState | undefined): void {
      retry = state ?? retry
    },

    stop(): void {
      stopped = true
    },

    /** What `stats()` reports of delivery at `now`. */
    stats: (now: number): DeliveryStats => ({
      inFlight: reserved.size,
      recentRequests: shared()
        .filter((free) => free > now)
        .sort((a, b) => a - b),
      ...(retry.until > now && { retryAt: retry.until }),
      ...(halted && { halted }),
    }),
  }
}

/** The delivery decisions; see {@link createDeliveryState}. */
export type DeliveryState = ReturnType<typeof createDeliveryState>
