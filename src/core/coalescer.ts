/**
 * The Coalescer: many client requests in, paced and de-duplicated upstream batches out.
 *
 * Each client request (a "submit") hands over up to 200 engagements and waits until every one
 * of them is settled upstream. Engagements of all submits wait in one FIFO and leave in batches
 * of up to `batchSize`, never more than `maxRequestsPerSecond` request starts in any sliding
 * window, several requests in flight at once. An id is held by one entry from the moment a
 * submit brings it in until the memory of acknowledged ids has stored it, and that entry is in
 * exactly one place (being looked up, waiting, or in flight): this is what makes "never forward
 * the same id twice" hold across any interleaving.
 *
 * Pure and runtime-neutral: time, timers, randomness, the upstream call and the memory of
 * acknowledged ids are all injected, so the same code runs in a Node process and in a Durable
 * Object, and tests drive it with a fake clock.
 */
import { LIMITS, type Engagement, type Settlement } from '../contract.js'
import { createAcknowledgedIds, type AcknowledgedIds } from './acknowledged.js'
import { halve } from './batch.js'
import { createPacer, type Flight, type Pacer } from './pacer.js'
import type { Outcome } from './outcome.js'
import { retryDelay, type BackoffPolicy } from './retry.js'

/**
 * What became of one upstream request (see `classify` in `retry.ts`): `ok` means Conversion
 * acknowledged the whole batch; `retry` covers 429, 5xx, network errors and timeouts (with
 * `afterMs` from `Retry-After` when given); `split` is a 400 on a batch of several; `reject` a
 * 400 on a single engagement; `halt` a 401, 403 or 404.
 */
export type UpstreamOutcome = Outcome

/** Time and timers, injected so that tests (and Durable Objects) decide what time it is. */
export interface CoalescerClock {
  /** Current time in epoch ms. */
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/**
 * Options of {@link createCoalescer}. `send`, `clock` and `random` are required: the core reaches
 * for no platform facility on its own.
 * @example
 * createCoalescer({
 *   send: (batch) => upstream.send(batch),
 *   clock: { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) },
 *   random: Math.random,
 * })
 */
export interface CoalescerOptions {
  /**
   * Sends one batch upstream and says what became of it. It must settle: apply a timeout and
   * report it as `retry`. A rejected promise is treated as `retry`.
   */
  send: (batch: Engagement[]) => Promise<UpstreamOutcome>
  clock: CoalescerClock
  /** A number in [0, 1), for backoff jitter. */
  random: () => number
  /** Most upstream request starts in any sliding window, 1 to 10. Default `10` (Conversion's limit per API key). */
  maxRequestsPerSecond?: number
  /** Most engagements in one upstream request, 1 to 200. Default `200` (Conversion's limit). */
  batchSize?: number
  /**
   * Added to the 1,000 ms window, in ms, for clock granularity. Default `5`. A request holds its
   * slot of the window from its start until a window after its answer (see `Pacer.launch`): only
   * then is it certain that Conversion received it more than a second before the next one,
   * whatever the network did to either. So throughput is `maxRequestsPerSecond` per (window +
   * upstream latency): 1,980/s at 5 ms latency, 1,660/s at 200 ms.
   */
  pacingMarginMs?: number
  /**
   * Backoff after a `retry` outcome without `Retry-After`: exponential with full jitter.
   * Default `{ baseMs: 1000, maxMs: 30000 }`. A `Retry-After` is obeyed instead (up to 1 hour).
   */
  retry?: BackoffPolicy
  /**
   * How long a submit may wait for its engagements to settle before it resolves `busy`, in ms.
   * Default `8000`, well inside the browser tracker's 15 s request timeout.
   */
  deadlineMs?: number
  /**
   * Most engagements held at once (waiting or in flight); a submit that would exceed it is
   * refused with `busy` at once. Default: what can be sent within `deadlineMs` at full rate
   * (15,920 at the defaults). Never below 200, the size of one client request.
   */
  maxBacklog?: number
  /**
   * After a `halt` (401, 403, 404), how long every submit is answered `unavailable` before the
   * Coalescer tries upstream again, in ms. Default `60000`.
   */
  haltCooldownMs?: number
  /** The memory of acknowledged ids. Default: in memory, 24 hours, 250,000 ids (see `createAcknowledgedIds`). */
  acknowledged?: AcknowledgedIds
  /**
   * A pacer shared with other Coalescers that send with the same key (one per request, where a
   * host cannot share requests in flight between client requests). Default: its own, built
   * from `maxRequestsPerSecond` and `pacingMarginMs`.
   */
  pacer?: Pacer
}

/**
 * How a submit ended:
 * - `settled`: every engagement was accepted now, acknowledged earlier (`duplicates`) or
 *   rejected for good; `accepted + duplicates + rejected.length` equals the engagements handed
 *   over (an id repeated inside one submit counts once as sent, then as a duplicate; a refused
 *   id sent again later is answered with the same rejection, without reaching Conversion);
 * - `busy`: load shed or deadline passed; the client keeps its data and retries after
 *   `retryAfterMs` (engagements already queued may still be delivered; the re-send then counts
 *   them as duplicates);
 * - `unavailable`: Conversion refuses our key or route, or the Coalescer is closed; the client
 *   keeps its data and retries after `retryAfterMs`.
 */
export type SubmitResult =
  | ({ kind: 'settled' } & Settlement)
  | { kind: 'busy'; retryAfterMs: number; reason: string }
  | { kind: 'unavailable'; retryAfterMs: number; reason: string }

/** What the Coalescer holds and has done, for health checks and tests. */
export interface CoalescerStats {
  /** Engagements waiting to be sent. */
  backlog: number
  /** Engagements in requests awaiting their answer. */
  inFlight: number
  requestsInFlight: number
  /** Engagements held in any state, against `maxBacklog`. */
  held: number
  maxBacklog: number
  /** Submits not answered yet. */
  openSubmits: number
  /** The pacer: starts inside the current window, its limit and length, and the wait before the next start. */
  window: { starts: number; limit: number; windowMs: number; nextStartInMs: number }
  /** Time left of the backoff after a failure, in ms; 0 when none. */
  backoffMs: number
  /** Failures in a row that set the backoff. */
  failures: number
  /** Why and for how long upstream is not tried (after a `halt`); undefined when sending. */
  halted: { reason: string; retryAfterMs: number } | undefined
  /** Ids in the memory of acknowledged ids. */
  acknowledgedIds: number
  /** Refused ids remembered, so that their re-sends are answered without sending them (the newest 10,000). */
  rejectedIds: number
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
  /** Submits answered `busy` (shed at once or past their deadline). */
  busy: number
  /** Submits answered `unavailable`. */
  unavailable: number
  /** Upstream request starts, retries and halves included. */
  requests: number
  /** `retry` outcomes. */
  retries: number
  /** Batches halved after a `split`. */
  splits: number
  /** Calls to the memory of acknowledged ids that failed. */
  memoryFailures: number
}

/** One Coalescer: a FIFO of engagements, a pacer, a backoff and the memory of acknowledged ids. */
export interface Coalescer {
  /**
   * Hands over the engagements of ONE client request (already validated) and resolves when
   * every one of them is settled, or with `busy`/`unavailable`. Never rejects.
   * @param deadlineMs how long this submit may wait; default the `deadlineMs` option.
   */
  submit(engagements: readonly Engagement[], deadlineMs?: number): Promise<SubmitResult>
  stats(): CoalescerStats
  /** Cancels every timer; open and later submits resolve `unavailable`. Requests in flight finish. */
  close(): void
}

/** Options after normalization: every value present and in range. */
interface Settings {
  send: CoalescerOptions['send']
  clock: CoalescerClock
  random: () => number
  requestsPerWindow: number
  windowMs: number
  batchSize: number
  retry: BackoffPolicy
  deadlineMs: number
  maxBacklog: number
  haltCooldownMs: number
  acknowledged: AcknowledgedIds
}

const WINDOW_MS = 1_000
/**
 * Rejections remembered (the newest), so that a re-sent refused engagement is answered at once
 * instead of being bisected out of a batch again: refusal is permanent for the same engagement.
 */
const REJECTIONS_KEPT = 10_000

/** The pacing rule of a Coalescer: requests per window, and the window with its margin. */
function pacingOf(options: Pick<CoalescerOptions, 'maxRequestsPerSecond' | 'pacingMarginMs'>) {
  return {
    requestsPerWindow: Math.floor(bounded(options.maxRequestsPerSecond, LIMITS.requestsPerSecond, 1, LIMITS.requestsPerSecond)),
    windowMs: WINDOW_MS + bounded(options.pacingMarginMs, 5, 0, WINDOW_MS),
  }
}

/**
 * The pacer a Coalescer builds for itself from these options, for several Coalescers that send
 * with one key to share (see {@link CoalescerOptions.pacer}).
 */
export function createCoalescerPacer(options: Pick<CoalescerOptions, 'maxRequestsPerSecond' | 'pacingMarginMs'> = {}): Pacer {
  const { requestsPerWindow, windowMs } = pacingOf(options)
  return createPacer({ limit: requestsPerWindow, windowMs })
}

function resolveCoalescerOptions(options: CoalescerOptions): Settings {
  const { requestsPerWindow, windowMs } = pacingOf(options)
  const batchSize = Math.floor(bounded(options.batchSize, LIMITS.batchSize, 1, LIMITS.batchSize))
  const deadlineMs = bounded(options.deadlineMs, 8_000, 1)
  const fullRateBacklog = Math.floor((deadlineMs / windowMs) * requestsPerWindow * batchSize)
  return {
    send: options.send,
    clock: options.clock,
    random: options.random,
    requestsPerWindow,
    windowMs,
    batchSize,
    retry: {
      baseMs: bounded(options.retry?.baseMs, 1_000, 1),
      maxMs: bounded(options.retry?.maxMs, 30_000, 1),
    },
    deadlineMs,
    // Never below one client request, or a slow configuration would refuse everything.
    maxBacklog: Math.floor(bounded(options.maxBacklog, Math.max(fullRateBacklog, LIMITS.batchSize), LIMITS.batchSize)),
    haltCooldownMs: bounded(options.haltCooldownMs, 60_000, 0),
    acknowledged: options.acknowledged ?? createAcknowledgedIds({ now: () => options.clock.now() }),
  }
}

/** `value` clamped into [min, max], or `fallback` when it is not a number. */
function bounded(value: number | undefined, fallback: number, min: number, max = Infinity): number {
  return typeof value === 'number' && !Number.isNaN(value) ? Math.min(max, Math.max(min, value)) : fallback
}

/** How an engagement ended: acknowledged by our request, known from before, or refused for good. */
type Fate = { kind: 'accepted' } | { kind: 'known' } | { kind: 'rejected'; reason: string }

/** One id's journey; shared by every submit that carries the id. */
interface Entry {
  engagement: Engagement
  fate: Fate | undefined
  /** Open submits waiting for this entry, one waiter per occurrence. */
  waiters: Set<Waiter>
}

/** One engagement of one submit. */
interface Waiter {
  submit: OpenSubmit
  entry: Entry
  /** Whether this occurrence brought the id in (it counts `accepted`; the others count `duplicates`). */
  owner: boolean
}

interface OpenSubmit {
  waiters: Waiter[]
  unsettled: number
  deadline: unknown
  done: boolean
  resolve: (result: SubmitResult) => void
}

type Refusal = Exclude<SubmitResult, { kind: 'settled' }>

/**
 * Creates a Coalescer for one API key. In a Node proxy, one per process; on Cloudflare, one per
 * Durable Object, so that a single object paces every isolate.
 * @example
 * const coalescer = createCoalescer({ send, clock, random: Math.random })
 * const result = await coalescer.submit(validEngagements)
 * if (result.kind === 'settled') respond(200, result)
 * else respond(503, { message: result.reason }, { 'Retry-After': Math.ceil(result.retryAfterMs / 1000) })
 */
export function createCoalescer(options: CoalescerOptions): Coalescer {
  const settings = resolveCoalescerOptions(options)
  const { clock, acknowledged, batchSize } = settings
  const pacer = options.pacer ?? createCoalescerPacer(options)
  /** Requests awaiting their answer, so that `close()` can free their slots in a shared pacer. */
  const flights = new Set<Flight>()

  /** Every id held, whatever its state, until it is settled and remembered. */
  const held = new Map<string, Entry>()
  const fresh = createFifo<Entry>()
  /** Batches formed already (retries, halves of refused batches): they leave before `fresh`. */
  const formed: Entry[][] = []
  const openSubmits = new Set<OpenSubmit>()
  /** Id -> why Conversion refused it, oldest first. */
  const rejections = new Map<string, string>()
  let waiting = 0
  let inFlight = 0
  let requestsInFlight = 0
  let backoffUntil = -Infinity
  let failures = 0
  let lastFailureAt = -Infinity
  let halted: { reason: string; until: number } | undefined
  let closed = false
  let wake: { at: number; handle: unknown } | undefined
  const totals: CoalescerTotals = {
    submits: 0,
    engagements: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    busy: 0,
    unavailable: 0,
    requests: 0,
    retries: 0,
    splits: 0,
    memoryFailures: 0,
  }

  const isHalted = (now: number): boolean => halted !== undefined && now < halted.until

  // ---- answers --------------------------------------------------------------------------

  /** Time until the backlog is sent at full rate, after the backoff: what a client should wait. */
  const retryAfterMs = (now: number): number => {
    const windowsAhead = Math.ceil(waiting / batchSize) / settings.requestsPerWindow
    const drainMs = Math.ceil(windowsAhead * settings.windowMs)
    return Math.max(settings.windowMs, Math.max(0, backoffUntil - now) + drainMs)
  }

  const busy = (reason: string, now: number): Refusal => ({ kind: 'busy', retryAfterMs: retryAfterMs(now), reason })

  /** The answer while closed or halted. */
  const unavailable = (now: number): Refusal => {
    if (closed || !halted) return { kind: 'unavailable', retryAfterMs: settings.windowMs, reason: 'The proxy is shutting down' }
    return {
      kind: 'unavailable',
      retryAfterMs: Math.max(0, halted.until - now),
      // Built from the upstream's status and message only, never from anything we were configured with.
      reason: `Conversion refused the proxy (${halted.reason}); sending is paused. Check the proxy's API key and upstream URL.`,
    }
  }

  const count = (result: SubmitResult): void => {
    if (result.kind === 'settled') {
      totals.accepted += result.accepted
      totals.duplicates += result.duplicates
      totals.rejected += result.rejected.length
    } else totals[result.kind]++
  }

  /** Answers a submit once, and unhooks it from the entries it was waiting for. */
  const finish = (submit: OpenSubmit, result: SubmitResult): void => {
    if (submit.done) return
    submit.done = true
    openSubmits.delete(submit)
    if (submit.deadline !== undefined) clock.clearTimeout(submit.deadline)
    for (const waiter of submit.waiters) waiter.entry.waiters.delete(waiter)
    count(result)
    submit.resolve(result)
  }

  const tally = (submit: OpenSubmit): SubmitResult => {
    const result: SubmitResult = { kind: 'settled', accepted: 0, duplicates: 0, rejected: [] }
    for (const { entry, owner } of submit.waiters) {
      const fate = entry.fate as Fate
      if (fate.kind === 'rejected') result.rejected.push({ id: entry.engagement.id, reason: fate.reason })
      else if (fate.kind === 'accepted' && owner) result.accepted++
      else result.duplicates++
    }
    return result
  }

  /** Gives an entry its fate and answers every submit that was waiting only for it. */
  const settle = (entry: Entry, fate: Fate): void => {
    entry.fate = fate
    for (const waiter of entry.waiters) {
      if (--waiter.submit.unsettled === 0) finish(waiter.submit, tally(waiter.submit))
    }
    entry.waiters.clear()
  }

  /** Lets go of entries that will not be sent (halt, close, memory failure): the clients still have them. */
  const release = (entries: readonly Entry[], result: Refusal): void => {
    for (const entry of entries) {
      if (held.get(entry.engagement.id) === entry) held.delete(entry.engagement.id)
      for (const waiter of [...entry.waiters]) finish(waiter.submit, result)
    }
  }

  /** Empties the backlog, returning what it held. */
  const takeBacklog = (): Entry[] => {
    const entries = [...formed.flat(), ...fresh.take(Infinity)]
    formed.length = 0
    waiting = 0
    return entries
  }

  // ---- sending --------------------------------------------------------------------------

  const cancelWake = (): void => {
    if (wake) clock.clearTimeout(wake.handle)
    wake = undefined
  }

  /** One timer at most: the earliest moment anything may be sent. */
  const wakeIn = (ms: number, now: number): void => {
    if (wake && wake.at <= now + ms) return
    cancelWake()
    wake = {
      at: now + ms,
      handle: clock.setTimeout(() => {
        wake = undefined
        pump()
      }, ms),
    }
  }

  const nextBatch = (): Entry[] => {
    const batch = formed.shift() ?? fresh.take(batchSize)
    waiting -= batch.length
    return batch
  }

  /** Starts every request that the pacer and the backoff allow now, and sets a timer for the next. */
  const pump = (): void => {
    if (closed) return
    const now = clock.now()
    while (waiting > 0 && !isHalted(now)) {
      const waitMs = Math.max(backoffUntil - now, pacer.delay(now))
      // Every slot awaits an answer: the next answer pumps again, no timer needed.
      if (waitMs === Infinity) return cancelWake()
      if (waitMs > 0) return wakeIn(waitMs, now)
      // The slot is taken before the request leaves, so requests in flight can never overrun it.
      start(nextBatch(), now, pacer.launch(now) as Flight)
    }
    cancelWake()
  }

  const start = (batch: Entry[], now: number, flight: Flight): void => {
    inFlight += batch.length
    requestsInFlight++
    totals.requests++
    let answer: Promise<UpstreamOutcome>
    try {
      answer = settings.send(batch.map((entry) => entry.engagement))
    } catch (error) {
      answer = Promise.reject(error)
    }
    flights.add(flight)
    answer
      // Its message may quote anything (even a request); the client hears only that it failed.
      .catch((): UpstreamOutcome => ({ kind: 'retry', status: undefined, reason: 'the upstream call failed' }))
      .then((outcome) => {
        flights.delete(flight)
        flight.land(clock.now())
        land(batch, outcome, now)
      })
  }


  /** Acts on the answer to a request started at `startedAt`. */
  const land = (batch: Entry[], answer: UpstreamOutcome, startedAt: number): void => {
    inFlight -= batch.length
    requestsInFlight--
    const now = clock.now()
    const outcome = answer
    switch (outcome.kind) {
      case 'ok':
        // Evidence newer than the last failure that upstream works again.
        if (startedAt >= lastFailureAt) failures = 0
        acknowledge(batch, now)
        break
      case 'too-large':
      case 'refused':
        if (batch.length === 1) {
          for (const entry of batch) reject(entry, outcome.reason)
          break
        }
        totals.splits++
        sendAgain(halve(batch), now)
        break
      case 'retry':
        totals.retries++
        backOff(outcome, startedAt, now)
        sendAgain([batch], now)
        break
      case 'halt':
        halt(outcome.reason, now)
        release(batch, unavailable(now))
        break
    }
    pump()
  }

  const reject = (entry: Entry, reason: string): void => {
    const { id } = entry.engagement
    held.delete(id)
    rejections.set(id, reason)
    if (rejections.size > REJECTIONS_KEPT) rejections.delete(rejections.keys().next().value as string)
    settle(entry, { kind: 'rejected', reason })
  }

  /** Settles a batch Conversion took, and keeps its ids held until the memory has them. */
  const acknowledge = (batch: Entry[], now: number): void => {
    for (const entry of batch) settle(entry, { kind: 'accepted' })
    const forget = () => {
      for (const entry of batch) {
        if (held.get(entry.engagement.id) === entry) held.delete(entry.engagement.id)
      }
    }
    whenReady(
      () => acknowledged.add(batch.map((entry) => entry.engagement.id), now),
      forget,
      () => {
        totals.memoryFailures++
        forget()
      },
    )
  }

  /** Puts batches back at the head of the line, or lets them go when sending has stopped. */
  const sendAgain = (batches: Entry[][], now: number): void => {
    if (closed || isHalted(now)) {
      release(batches.flat(), unavailable(now))
      return
    }
    formed.unshift(...batches)
    for (const batch of batches) waiting += batch.length
  }

  /**
   * One backoff for everyone: the upstream is shared. Only a request started after the last
   * failure raises the exponent; requests that were in flight together fail together and
   * count once.
   */
  const backOff = (outcome: { afterMs?: number }, startedAt: number, now: number): void => {
    if (startedAt >= lastFailureAt) failures++
    lastFailureAt = now
    const delayMs = retryDelay(outcome, failures - 1, settings.retry, settings.random)
    backoffUntil = Math.max(backoffUntil, now + delayMs)
  }

  const halt = (reason: string, now: number): void => {
    halted = { reason, until: now + settings.haltCooldownMs }
    const result = unavailable(now)
    for (const submit of [...openSubmits]) finish(submit, result)
    release(takeBacklog(), result)
    cancelWake()
  }

  // ---- taking submits -------------------------------------------------------------------

  /** Why a submit is answered before it is queued, if it is. */
  const refusal = (engagements: readonly Engagement[], deadlineMs: number, now: number): Refusal | undefined => {
    if (closed || isHalted(now)) return unavailable(now)
    const newIds = new Set<string>()
    for (const { id } of engagements) if (!held.has(id) && !rejections.has(id)) newIds.add(id)
    if (newIds.size === 0) return undefined
    if (held.size + newIds.size > settings.maxBacklog) {
      return busy(`The proxy is full: it holds ${held.size} engagements of at most ${settings.maxBacklog}`, now)
    }
    // Nothing can be sent before the deadline: say so now rather than hold the request open.
    if (backoffUntil - now >= deadlineMs) {
      return busy('Conversion is failing or asked to slow down; the proxy is waiting before its next request', now)
    }
    return undefined
  }

  /** Ids seen for the first time are checked against the memory, then queued. */
  const queueUnlessKnown = (entries: Entry[]): void => {
    whenReady(
      () => acknowledged.has(entries.map((entry) => entry.engagement.id)),
      (known) => {
        const now = clock.now()
        const stopped = closed || isHalted(now)
        for (const entry of entries) {
          if (known.has(entry.engagement.id)) {
            held.delete(entry.engagement.id)
            settle(entry, { kind: 'known' })
          } else if (stopped) release([entry], unavailable(now))
          else {
            fresh.push(entry)
            waiting++
          }
        }
        pump()
      },
      () => {
        totals.memoryFailures++
        release(entries, busy('The proxy could not read its memory of delivered engagements', clock.now()))
      },
    )
  }

  /** A settled entry for an engagement Conversion refused before, if it did. */
  const rejectedBefore = (engagement: Engagement): Entry | undefined => {
    const reason = rejections.get(engagement.id)
    return reason === undefined ? undefined : { engagement, fate: { kind: 'rejected', reason }, waiters: new Set() }
  }

  const submit = (engagements: readonly Engagement[], deadlineMs = settings.deadlineMs): Promise<SubmitResult> => {
    totals.submits++
    totals.engagements += engagements.length
    const now = clock.now()
    const waitMs = bounded(deadlineMs, settings.deadlineMs, 0)
    const refused = refusal(engagements, waitMs, now)
    if (refused) {
      count(refused)
      return Promise.resolve(refused)
    }
    return new Promise((resolve) => {
      const open: OpenSubmit = { waiters: [], unsettled: 0, deadline: undefined, done: false, resolve }
      const claimed: Entry[] = []
      for (const engagement of engagements) {
        const existing = held.get(engagement.id) ?? rejectedBefore(engagement)
        const owner = existing === undefined
        const entry = existing ?? { engagement, fate: undefined, waiters: new Set<Waiter>() }
        if (owner) {
          // Claimed before the memory is asked, so a concurrent submit of the same id waits for
          // this entry instead of racing it upstream.
          held.set(engagement.id, entry)
          claimed.push(entry)
        }
        const waiter: Waiter = { submit: open, entry, owner }
        open.waiters.push(waiter)
        if (!entry.fate) {
          entry.waiters.add(waiter)
          open.unsettled++
        }
      }
      openSubmits.add(open)
      if (open.unsettled === 0) return finish(open, tally(open))
      open.deadline = clock.setTimeout(() => {
        finish(open, busy(`Not settled within ${waitMs} ms; the engagements stay queued`, clock.now()))
      }, waitMs)
      if (claimed.length > 0) queueUnlessKnown(claimed)
    })
  }

  return {
    submit,
    stats() {
      const now = clock.now()
      return {
        backlog: waiting,
        inFlight,
        requestsInFlight,
        held: held.size,
        maxBacklog: settings.maxBacklog,
        openSubmits: openSubmits.size,
        window: {
          starts: pacer.recent(now).length,
          limit: settings.requestsPerWindow,
          windowMs: settings.windowMs,
          nextStartInMs: pacer.delay(now),
        },
        backoffMs: Math.max(0, backoffUntil - now),
        failures,
        halted: halted && isHalted(now) ? { reason: halted.reason, retryAfterMs: halted.until - now } : undefined,
        acknowledgedIds: acknowledged.size(),
        rejectedIds: rejections.size,
        totals: { ...totals },
      }
    },
    close() {
      if (closed) return
      closed = true
      cancelWake()
      // Whatever became of requests still out, they reached Conversion by now if at all: a
      // shared pacer must not keep their slots forever.
      for (const flight of flights) flight.land(clock.now())
      flights.clear()
      const result = unavailable(clock.now())
      for (const open of [...openSubmits]) finish(open, result)
      release(takeBacklog(), result)
    },
  }
}

/**
 * Calls `use` with what `produce` returns: at once when it is a value, when it resolves when it
 * is a promise. A synchronous memory stays synchronous, so nothing waits a tick for nothing.
 */
function whenReady<T>(produce: () => T | PromiseLike<T>, use: (value: T) => void, fail: (error: unknown) => void): void {
  let value: T | PromiseLike<T>
  try {
    value = produce()
  } catch (error) {
    fail(error)
    return
  }
  if (isPromiseLike(value)) value.then(use, fail)
  else use(value)
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/** A first-in first-out line that takes from the front without shifting the whole array each time. */
interface Fifo<T> {
  push(item: T): void
  take(count: number): T[]
}

function createFifo<T>(): Fifo<T> {
  let items: T[] = []
  let head = 0
  return {
    push: (item) => void items.push(item),
    take(count) {
      const taken = items.slice(head, head + count)
      head += taken.length
      // Drop the consumed front once it is most of the array: amortized O(1) per item.
      if (head > 1024 && head * 2 > items.length) {
        items = items.slice(head)
        head = 0
      }
      if (head === items.length) {
        items = []
        head = 0
      }
      return taken
    },
  }
}
