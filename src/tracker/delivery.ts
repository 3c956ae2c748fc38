import { LIMITS } from '../contract.js'
import { halve, splitIntoBatches, takeBatch, type BatchLimits } from '../core/batch.js'
import { createPacer } from '../core/pacer.js'
import { retryDelay } from '../core/retry.js'
import type { ResolvedOptions } from './options.js'
import { trackedAt, type Outbox, type OutboxEntry } from './outbox.js'
import type { Sender } from './sender.js'
import type { TrackerEvent } from './types.js'

/**
 * Added to the pacer's window: clock readings are whole milliseconds, and a timer may not fire
 * at the exact millisecond asked. The limit holds for request starts (the proxy paces Conversion
 * by answers, which no network delay can fool).
 */
const PACING_MARGIN_MS = 5
/** A beaconed entry is not sent again for this long: the beacon is most likely on its way. */
const BEACON_GRACE_MS = 10_000
/** `{"batch":` + `,"identity":{}` + `}` */
const ENVELOPE_BYTES = 24

/** Backoff that outlives the page: how many failures in a row, and no request before `until`. */
export interface RetryState {
  failures: number
  until: number
}

/** What the sending machinery needs from the tracker around it. */
export interface DeliveryContext {
  options: ResolvedOptions
  outbox: Outbox
  sender: Sender
  emit: (event: TrackerEvent) => void
  /** Whether this tab sends for the origin right now. */
  isLeader: () => boolean
  /** Whether tracking is off: nothing is sent then, not even what a tab stored after the clear. */
  optedOut: () => boolean
  /** Tells other tabs which entries are gone from the outbox. */
  announceSettled: (keys: string[]) => void
  /** Stores the backoff so a reload does not retry early. */
  saveRetry: (state: RetryState) => void
}

/** The leader's sending machinery. */
export interface Delivery {
  /** Sends what is sendable now; resolves when none is left, or all of it waits for a retry. */
  drain(): Promise<void>
  /** `count` engagements were queued: send at `flushAt`, else within `flushInterval`. */
  queued(count: number): void
  /** The page is being hidden or left: hands what is unsent to the browser in beacons. */
  beacon(): void
  /** Adopts backoff read from storage (at start, or when this tab becomes leader). */
  restore(state: RetryState | undefined): void
  stop(): void
  readonly inFlight: number
  readonly retryAt: number | undefined
  readonly halted: string | undefined
  recentRequests(): number[]
}

const idsOf = (entries: readonly OutboxEntry[]) => entries.map((entry) => entry.engagement.id)

/** The JSON body of a request: the engagements, and the identity signatures of their contacts. */
export function requestBody(entries: readonly OutboxEntry[]): string {
  let identity: Record<string, string> | undefined
  for (const { engagement, signature } of entries) {
    if (signature && engagement.contactEmail) (identity ??= {})[engagement.contactEmail] = signature
  }
  // JSON leaves `identity` out while it is undefined.
  return JSON.stringify({ batch: entries.map((entry) => entry.engagement), identity })
}

export function createDelivery(context: DeliveryContext): Delivery {
  const { options, outbox, sender, emit } = context
  const { platform } = options
  const pacer = createPacer({ limit: options.maxRequestsPerSecond, windowMs: 1_000 + PACING_MARGIN_MS })
  const limits: BatchLimits = {
    maxCount: options.maxBatchSize,
    maxBytes: options.maxBatchBytes,
    envelopeBytes: ENVELOPE_BYTES,
  }
  const sizeOf = (entry: OutboxEntry) => entry.bytes

  const inFlight = new Map<string, OutboxEntry>()
  const requests = new Set<Promise<void>>()
  /** Halves of refused batches, sent before anything newer. */
  const splits: OutboxEntry[][] = []
  let retry: RetryState = { failures: 0, until: 0 }
  let halted: string | undefined
  let running: Promise<void> | undefined
  let again = false
  let cursor = ''
  let waiting = 0
  let flushTimer: unknown
  let retryTimer: unknown
  let stopped = false
  const sleepers = new Set<() => void>()

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        sleepers.delete(wake)
        resolve()
      }
      sleepers.add(wake)
      platform.setTimeout(wake, ms)
    })

  const wakeAt = (ms: number) => {
    platform.clearTimeout(retryTimer)
    retryTimer = platform.setTimeout(() => void drain(), ms)
  }

  /** The next batch from the outbox, past what is in flight, beaconed just now or expired. */
  const nextBatch = async (): Promise<OutboxEntry[] | undefined> => {
    for (;;) {
      const rows = await outbox.head(cursor, options.maxBatchSize)
      if (rows.length === 0) return undefined
      const now = platform.now()
      const expired: OutboxEntry[] = []
      const ready: OutboxEntry[] = []
      for (const entry of rows) {
        if (inFlight.has(entry.key)) continue
        if (trackedAt(entry.key) < now - options.maxAge) expired.push(entry)
        else if (entry.beaconAt && entry.beaconAt > now - BEACON_GRACE_MS) {
          // Most likely delivered by the beacon; look again once the grace is over.
          wakeAt(entry.beaconAt + BEACON_GRACE_MS - now)
        } else ready.push(entry)
      }
      cursor = (rows[rows.length - 1] as OutboxEntry).key
      if (expired.length > 0) {
        await outbox.remove(expired)
        context.announceSettled(expired.map((entry) => entry.key))
        emit({ type: 'dropped', ids: idsOf(expired), reason: 'expired' })
      }
      if (ready.length > 0) {
        const batch = takeBatch(ready, limits, sizeOf)
        // What did not fit is read again next time.
        if (batch.length < ready.length) cursor = (batch[batch.length - 1] as OutboxEntry).key
        return batch
      }
    }
  }

  /** A request failed for now: `afterMs` is the proxy's `Retry-After`, when it gave one. */
  const fail = (batch: OutboxEntry[], outcome: { reason: string; afterMs?: number }) => {
    const { reason } = outcome
    cursor = ''
    if (!platform.isOnline()) {
      // Offline is not the proxy's fault: spend no attempt, resume on `online`.
      emit({ type: 'retried', ids: idsOf(batch), failures: retry.failures, delayMs: 0, reason: `offline (${reason})` })
      return
    }
    const failures = retry.failures + 1
    const delayMs = retryDelay(outcome, failures - 1, options.retry, platform.random)
    retry = { failures, until: Math.max(retry.until, platform.now() + delayMs) }
    context.saveRetry(retry)
    emit({ type: 'retried', ids: idsOf(batch), failures, delayMs, reason })
    wakeAt(retry.until - platform.now())
  }

  const remove = async (batch: OutboxEntry[]) => {
    await outbox.remove(batch)
    context.announceSettled(batch.map((entry) => entry.key))
  }

  /** Acts on one answer; returns the entries that stay reserved (halves awaiting their turn). */
  const settle = async (batch: OutboxEntry[], body: string): Promise<OutboxEntry[]> => {
    const outcome = await sender.send(body)
    switch (outcome.kind) {
      case 'ok': {
        const { accepted, duplicates, rejected } = outcome.settlement
        await remove(batch)
        // Every failure sets a time, so a time says whether there is a backoff to forget.
        if (retry.until > 0) context.saveRetry((retry = { failures: 0, until: 0 }))
        const refused = new Set(rejected.map((item) => item.id))
        emit({ type: 'sent', ids: idsOf(batch).filter((id) => !refused.has(id)), accepted, duplicates })
        for (const item of rejected) emit({ type: 'rejected', id: item.id, reason: item.reason })
        return []
      }
      case 'retry':
        fail(batch, outcome)
        return []
      case 'too-large':
      case 'refused': {
        if (batch.length > 1) {
          // The proxy takes less than we thought: send smaller bodies from now on.
          if (outcome.kind === 'too-large') limits.maxBytes = Math.max(LIMITS.beaconBytes / 4, Math.floor(body.length / 2))
          splits.unshift(...halve(batch))
          return batch
        }
        await remove(batch)
        for (const id of idsOf(batch)) emit({ type: 'rejected', id, reason: outcome.reason })
        return []
      }
      case 'halt':
        halted = outcome.reason
        emit({
          type: 'error',
          error: {
            code: 'halted',
            message: `The proxy refused this tracker (${outcome.reason}); sending stopped and engagements are kept. Check the endpoint and the proxy's allowed origins, then reload.`,
          },
        })
        return []
    }
  }

  const start = (batch: OutboxEntry[]) => {
    for (const entry of batch) inFlight.set(entry.key, entry)
    const body = requestBody(batch)
    emit({ type: 'request', transport: 'fetch', ids: idsOf(batch), bytes: body.length })
    const request: Promise<void> = settle(batch, body)
      .catch((error: unknown) => {
        fail(batch, { reason: `internal error: ${String(error)}` })
      })
      .then((kept) => {
        const reserved = new Set((kept ?? []).map((entry) => entry.key))
        for (const entry of batch) if (!reserved.has(entry.key)) inFlight.delete(entry.key)
        requests.delete(request)
      })
    requests.add(request)
  }

  const blocked = () =>
    stopped ||
    !!halted ||
    !context.isLeader() ||
    context.optedOut() ||
    !platform.isOnline() ||
    retry.until > platform.now()

  const loop = async () => {
    cursor = ''
    waiting = 0
    while (!blocked()) {
      if (requests.size >= options.maxConcurrentRequests) {
        await Promise.race(requests)
        continue
      }
      const batch = splits.shift() ?? (await nextBatch())
      if (!batch) {
        // A request that answered meanwhile may have left halves to send.
        if (splits.length > 0) continue
        if (requests.size > 0) {
          await Promise.race(requests)
          continue
        }
        if (!again) break
        again = false
        cursor = ''
        continue
      }
      const delay = pacer.delay(platform.now())
      if (delay > 0) await sleep(delay)
      if (blocked() || !pacer.take(platform.now())) {
        // Something changed while waiting: put the batch back.
        cursor = ''
        if (batch.some((entry) => inFlight.has(entry.key))) splits.unshift(batch)
        continue
      }
      start(batch)
    }
    await Promise.all(requests)
    if (retry.until > platform.now() && !halted && !stopped) wakeAt(retry.until - platform.now())
  }

  const drain = (): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    again = false
    running = loop()
      .catch((error: unknown) =>
        emit({ type: 'error', error: { code: 'internal', message: `sending failed: ${String(error)}` } }),
      )
      .finally(() => {
        running = undefined
        // A call made while the loop was finishing (it found itself blocked, then waited for the
        // last answers) would be lost: back from the back/forward cache, say.
        if (again) void drain()
      })
    return running
  }

  return {
    drain,
    queued(count) {
      waiting += count
      if (waiting >= options.flushAt) {
        platform.clearTimeout(flushTimer)
        flushTimer = undefined
        void drain()
      } else if (flushTimer === undefined) {
        flushTimer = platform.setTimeout(() => {
          flushTimer = undefined
          void drain()
        }, options.flushInterval)
      }
    },
    beacon() {
      if (halted || context.optedOut()) return
      const now = platform.now()
      const unsent = outbox
        .recent()
        .filter((entry) => entry.key[0] === 's' && !(entry.beaconAt && entry.beaconAt > now - BEACON_GRACE_MS))
      const chunks = splitIntoBatches(unsent, { ...limits, maxBytes: LIMITS.beaconBytes }, sizeOf)
      const carried: OutboxEntry[] = []
      for (const chunk of chunks) {
        const body = requestBody(chunk)
        if (!pacer.take(now) || !sender.beacon(body)) break
        emit({ type: 'request', transport: 'beacon', ids: idsOf(chunk), bytes: body.length })
        for (const entry of chunk) entry.beaconAt = now
        carried.push(...chunk)
      }
      if (carried.length > 0) outbox.update(carried).catch(() => undefined)
    },
    restore(state) {
      if (state) retry = state
    },
    stop() {
      stopped = true
      platform.clearTimeout(flushTimer)
      platform.clearTimeout(retryTimer)
      for (const wake of [...sleepers]) wake()
    },
    get inFlight() {
      return inFlight.size
    },
    get retryAt() {
      return retry.until > platform.now() ? retry.until : undefined
    },
    get halted() {
      return halted
    },
    recentRequests: () => pacer.recent(platform.now()),
  }
}
