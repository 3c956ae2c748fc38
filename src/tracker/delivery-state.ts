import { LIMITS } from '../contract.js'
import { halve, splitIntoBatches, takeBatch, type BatchLimits } from '../core/batch.js'
import { createPacer } from '../core/pacer.js'
import { retryDelay } from '../core/retry.js'
import { AWAIT, DONE, idsOf, type DeliveryLimits, type DeliveryStats, type Effects, type Outgoing, type Step } from './delivery-steps.js'
import { trackedAt, type OutboxEntry } from './outbox.js'
import { ENVELOPE_BYTES, requestBody } from './request.js'
import type { SendResult } from './sender.js'
import type { RetryState } from './settings.js'
import type { TrackerEvent } from './types.js'

/**
 * Added to the pacer's window: clock readings are whole milliseconds, and a timer may not fire
 * at the exact millisecond asked. The limit holds for request starts (the proxy paces Conversion
 * by answers, which no network delay can fool).
 */
const PACING_MARGIN_MS = 5
/** A beaconed entry is not sent again for this long: the beacon is most likely on its way. */
export const BEACON_GRACE_MS = 10_000

/**
 * The leader's delivery decisions, apart from time and I/O: which batch goes next, what an
 * answer does to its entries, when to wake. Every method takes the time and facts it needs and
 * returns what to do; the driver (delivery.ts) owns the timers, the reads and the requests.
 *
 * A pass reads the outbox from the oldest entry on, past a cursor, skipping what is reserved
 * (in a request, or halves of a refused batch awaiting their turn, which go first).
 */
export function createDeliveryState(limits: DeliveryLimits, random: () => number) {
  const pacer = createPacer({ limit: limits.maxRequestsPerSecond, windowMs: 1_000 + PACING_MARGIN_MS })
  const batchLimits: BatchLimits = { maxCount: limits.maxBatchSize, maxBytes: limits.maxBatchBytes, envelopeBytes: ENVELOPE_BYTES }
  const sizeOf = (entry: OutboxEntry) => entry.bytes

  /** Entries in a request or in `halves`, by key. */
  const reserved = new Map<string, OutboxEntry>()
  /** Halves of refused batches, sent before anything newer. */
  const halves: OutboxEntry[][] = []
  /** Batches read and not started yet; dropped when a pass begins, as the outbox holds them anyway. */
  let fresh: OutboxEntry[][] = []
  /** The last entry read; the next read starts after it. */
  let cursor: OutboxEntry | undefined
  /** The last read found nothing past the cursor, and no answer came since. */
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
  }

  /**
   * A request failed for now (`afterMs`: the proxy's `Retry-After`, when it gave one): its
   * entries are read again from the oldest on, after the backoff.
   */
  const fail = (entries: OutboxEntry[], failure: { reason: string; afterMs?: number }, now: number, online: boolean): Effects => {
    const { reason } = failure
    const ids = idsOf(entries)
    startOver()
    if (!online) {
      // Offline is not the proxy's fault: spend no attempt, resume on `online`.
      return { events: [{ type: 'retried', ids, failures: retry.failures, delayMs: 0, reason: `offline (${reason})` }] }
    }
    const failures = retry.failures + 1
    const delayMs = retryDelay(failure, failures - 1, limits.retry, random)
    retry = { failures, until: Math.max(retry.until, now + delayMs) }
    return { saveRetry: retry, events: [{ type: 'retried', ids, failures, delayMs, reason }], wakeInMs: retry.until - now }
  }

  return {
    /** A pass begins: read from the oldest, and count `flushAt` afresh. */
    begin(): void {
      startOver()
      fresh = []
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
      if (requestsOut >= limits.maxConcurrentRequests) return AWAIT
      const entries = halves[0] ?? fresh[0]
      if (!entries) {
        if (exhausted) {
          if (requestsOut > 0) return AWAIT
          if (!again) return DONE
          again = false
          startOver()
        }
        return { kind: 'read', after: cursor }
      }
      const ms = pacer.delay(now)
      if (ms > 0) return { kind: 'pace', ms }
      pacer.take(now)
      ;(entries === halves[0] ? halves : fresh).shift()
      for (const entry of entries) reserved.set(entry.key, entry)
      requestsOut++
      return { kind: 'send', outgoing: { entries, body: requestBody(entries) } }
    },

    /** Rows read past the cursor: sets the next batch aside, and says what expired and when to look again. */
    read(rows: readonly OutboxEntry[], now: number): Effects {
      const expired: OutboxEntry[] = []
      const ready: OutboxEntry[] = []
      let wakeInMs: number | undefined
      for (const entry of rows) {
        if (reserved.has(entry.key)) continue
        if (trackedAt(entry) < now - limits.maxAge) expired.push(entry)
        else if (entry.beaconAt && entry.beaconAt > now - BEACON_GRACE_MS) {
          // Most likely delivered by the beacon; look again once the grace is over.
          wakeInMs = entry.beaconAt + BEACON_GRACE_MS - now
        } else ready.push(entry)
      }
      exhausted = rows.length === 0
      cursor = rows[rows.length - 1] ?? cursor
      if (ready.length > 0) {
        const batch = takeBatch(ready, batchLimits, sizeOf)
        // What did not fit is read again next time.
        if (batch.length < ready.length) cursor = batch[batch.length - 1]
        fresh.push(batch)
      }
      return {
        remove: expired,
        events: expired.length > 0 ? [{ type: 'dropped', ids: idsOf(expired), reason: 'expired' }] : [],
        wakeInMs,
      }
    },

    /** What the answer to `outgoing` does; `online` tells a failure of the network from one of the proxy. */
    answer(outgoing: Outgoing, result: SendResult, now: number, online: boolean): Effects {
      const { entries } = outgoing
      switch (result.kind) {
        case 'ok': {
          const { accepted, duplicates, rejected } = result.settlement
          const refused = new Set(rejected.map((item) => item.id))
          return {
            remove: entries,
            // Every failure sets a time, so a time says whether there is a backoff to forget.
            saveRetry: retry.until > 0 ? (retry = { failures: 0, until: 0 }) : undefined,
            events: [
              { type: 'sent', ids: idsOf(entries).filter((id) => !refused.has(id)), accepted, duplicates },
              ...rejected.map(({ id, reason }): TrackerEvent => ({ type: 'rejected', id, reason })),
            ],
          }
        }
        case 'retry':
          return fail(entries, result, now, online)
        case 'too-large':
        case 'refused':
          if (entries.length > 1) {
            // The proxy takes less than we thought: send smaller bodies from now on.
            if (result.kind === 'too-large') {
              batchLimits.maxBytes = Math.max(LIMITS.beaconBytes / 4, Math.floor(outgoing.body.length / 2))
            }
            halves.unshift(...halve(entries))
            outgoing.split = true
            return {}
          }
          return { remove: entries, events: idsOf(entries).map((id) => ({ type: 'rejected', id, reason: result.reason })) }
        case 'halt':
          halted = result.reason
          return {
            events: [
              {
                type: 'error',
                error: {
                  code: 'halted',
                  message: `The proxy refused this tracker (${result.reason}); sending stopped and engagements are kept. Check the endpoint and the proxy's allowed origins, then reload.`,
                },
              },
            ],
          }
      }
    },

    /** The driver acted on the answer to `outgoing`: its entries are free again, unless its halves hold them. */
    finish(outgoing: Outgoing): void {
      requestsOut--
      exhausted = false
      if (!outgoing.split) for (const entry of outgoing.entries) reserved.delete(entry.key)
    },

    /** Once a pass ended and its requests answered: ms until the backoff is over, if sending is still wanted then. */
    wakeAfterPass(now: number): number | undefined {
      return halted || stopped || retry.until <= now ? undefined : retry.until - now
    },

    /** `count` engagements were queued: whether to send at once (`flushAt` is reached), else within `flushInterval`. */
    queued(count: number): boolean {
      return (waiting += count) >= limits.flushAt
    },

    /** Bodies for beacons at `now`, oldest first, from the unsent entries; each must get a slot with `takeSlot`. */
    beacons(unsent: readonly OutboxEntry[], now: number): OutboxEntry[][] {
      if (halted) return []
      const due = unsent.filter((entry) => !(entry.beaconAt && entry.beaconAt > now - BEACON_GRACE_MS))
      return splitIntoBatches(due, { ...batchLimits, maxBytes: LIMITS.beaconBytes }, sizeOf)
    },

    /** Takes a pacer slot at `now` for a request outside the loop (a beacon); false when none is free. */
    takeSlot: (now: number): boolean => pacer.take(now),

    /** Adopts backoff read from storage (at start, or when this tab becomes the leader). */
    restore(state: RetryState | undefined): void {
      if (state) retry = state
    },

    stop(): void {
      stopped = true
    },

    /** What `stats()` reports of delivery at `now`. */
    stats(now: number): DeliveryStats {
      const stats: DeliveryStats = { inFlight: reserved.size, recentRequests: pacer.recent(now) }
      if (retry.until > now) stats.retryAt = retry.until
      if (halted) stats.halted = halted
      return stats
    },
  }
}

/** The delivery decisions; see {@link createDeliveryState}. */
export type DeliveryState = ReturnType<typeof createDeliveryState>
