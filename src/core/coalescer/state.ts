/**
 * The Coalescer's decisions, apart from time: every method takes `now` and records what to do
 * (answers, questions for the memory) in {@link Effects}, which the driver carries out. No timer,
 * promise or I/O here, so every decision is tested with plain calls.
 */
import { halve } from '../batch.js'
import type { Failure, Outcome } from '../outcome.js'
import { retryDelay } from '../retry.js'
import type { Entry } from './entry.js'
import { isolationGroups, splitUnder } from './isolation.js'
import { Ledger } from './ledger.js'
import type { CoalescerSettings } from './options.js'
import { Refusals } from './refusals.js'
import { Scheduler } from './scheduler.js'
import type { CoalescerTotals, MemoryKey, Parcel, Recall, Refusal, SubmitOptions, SubmitResult } from './types.js'

/** What the driver must do after a call. */
export interface Effects {
  answers: [submit: number, result: SubmitResult][]
  /** Ask the memory about these, then call `recalled(token, ...)`. */
  recall: { token: number; keys: MemoryKey[] }[]
  /** Store these as delivered, then call `remembered(keys)`. */
  acknowledge: MemoryKey[][]
  /** Give these claims up. */
  release: MemoryKey[]
  /** Answer these submits `busy` after `ms` unless settled before. */
  deadlines: { submit: number; ms: number }[]
}

/** One upstream request to start. */
export interface Departure {
  request: number
  parcels: Parcel[]
}

/** How often to ask again about an engagement another sender of the key is delivering, in ms. */
const ELSEWHERE_POLL_MS = 250
const keyOf = (entry: Entry): MemoryKey => ({ id: entry.parcel.id, digest: entry.parcel.digest })

export class CoalescerState {
  readonly totals: CoalescerTotals = {
    submits: 0, engagements: 0, accepted: 0, duplicates: 0, rejected: 0, conflicts: 0,
    throttled: 0, busy: 0, unavailable: 0, requests: 0, retries: 0, isolations: 0, memoryFailures: 0,
  }
  readonly ledger = new Ledger((result) => this.count(result))
  readonly scheduler: Scheduler
  readonly refusals = new Refusals()
  private effects: Effects = { answers: [], recall: [], acknowledge: [], release: [], deadlines: [] }
  private readonly recalling = new Map<number, Entry[]>()
  private readonly flying = new Map<number, { entries: Entry[]; startedAt: number }>()
  /** Entries another sender is delivering: asked about again at `at`. */
  private elsewhere: { entry: Entry; at: number }[] = []
  private lastToken = 0
  private lastRequest = 0
  backoffUntil = -Infinity
  failures = 0
  private lastFailureAt = -Infinity
  halted: { reason: string; until: number } | undefined
  closed = false

  constructor(readonly settings: CoalescerSettings) {
    this.scheduler = new Scheduler(settings.batchSize, settings.maxBatchBytes)
  }

  /** The effects recorded since the last call, handed over once. */
  takeEffects(): Effects {
    const effects = { ...this.effects, answers: this.ledger.answers }
    this.ledger.answers = []
    this.effects = { answers: [], recall: [], acknowledge: [], release: [], deadlines: [] }
    return effects
  }

  get inFlight(): number {
    let count = 0
    for (const flight of this.flying.values()) count += flight.entries.length
    return count
  }

  get requestsInFlight(): number {
    return this.flying.size
  }

  isHalted(now: number): boolean {
    return this.halted !== undefined && now < this.halted.until
  }

  /** Takes one client request; returns its number (its answer comes through the effects). */
  submit(now: number, parcels: readonly Parcel[], options: SubmitOptions = {}): number {
    this.totals.submits++
    this.totals.engagements += parcels.length
    const submit = this.ledger.openSubmit()
    const client = options.client ?? ''
    const deadlineMs = options.deadlineMs ?? this.settings.deadlineMs
    const refused = this.refusal(now, parcels, client, options.client !== undefined, deadlineMs)
    if (refused) {
      this.ledger.finish(submit, refused)
      return submit.id
    }
    const budget = { left: this.settings.isolationBudget }
    const claimed: Entry[] = []
    for (const parcel of parcels) {
      const held = this.ledger.held.get(parcel.id)
      if (held && held.parcel.digest !== parcel.digest) {
        submit.refused.push({ id: parcel.id, reason: conflict(parcel.id, 'is being delivered') })
        this.totals.conflicts++
        continue
      }
      const known = held ?? this.refusals.entryFor(parcel, client, budget)
      const entry = known ?? { parcel, client, fate: undefined, waiters: new Set(), budget, claimed: false }
      if (!known) {
        // Held before the memory is asked, so a concurrent submit of the same id waits for this
        // entry instead of racing it upstream.
        this.ledger.hold(entry)
        claimed.push(entry)
      }
      this.ledger.wait(submit, entry, !known)
    }
    this.ledger.finishIfSettled(submit)
    if (!submit.done) this.effects.deadlines.push({ submit: submit.id, ms: deadlineMs })
    if (claimed.length > 0) this.recall(claimed)
    return submit.id
  }

  /** What the memory said of the entries asked about with `token` (or `undefined` when it failed). */
  recalled(now: number, token: number, verdicts: readonly Recall[] | undefined): void {
    const entries = this.recalling.get(token) ?? []
    this.recalling.delete(token)
    if (!verdicts) {
      this.totals.memoryFailures++
      this.ledger.release(entries, this.busy(now, 'The proxy could not read its memory of delivered engagements'))
      return
    }
    const stopped = this.closed || this.isHalted(now)
    entries.forEach((entry, index) => {
      const verdict = verdicts[index]
      if (verdict === 'new') entry.claimed = true
      if (verdict === 'known') {
        this.ledger.unhold(entry)
        this.ledger.settle(entry, { kind: 'known' })
      } else if (verdict === 'conflict') {
        this.totals.conflicts++
        this.ledger.unhold(entry)
        this.ledger.settle(entry, { kind: 'rejected', reason: conflict(entry.parcel.id, 'was delivered before') })
      } else if (stopped) this.letGo([entry], this.unavailable(now))
      else if (verdict === 'pending') this.elsewhere.push({ entry, at: now + ELSEWHERE_POLL_MS })
      else this.scheduler.enqueue(entry)
    })
  }

  /** Asks again about entries another sender was delivering, once their time comes. */
  poll(now: number): void {
    const due = this.elsewhere.filter((item) => item.at <= now)
    if (due.length === 0) return
    this.elsewhere = this.elsewhere.filter((item) => item.at > now)
    const asked: Entry[] = []
    for (const { entry } of due) {
      // Nobody waits for it any more: its client will send it again if it must.
      if (entry.waiters.size === 0) this.ledger.unhold(entry)
      else asked.push(entry)
    }
    if (asked.length > 0) this.recall(asked)
  }

  /** Whether a request may start now, pacer aside. */
  canStart(now: number): boolean {
    return !this.closed && !this.isHalted(now) && this.scheduler.waiting > 0 && now >= this.backoffUntil
  }

  /** When the state needs the driver again without any event: a backoff ending, a poll due. */
  wakeAt(now: number): number {
    let at = Infinity
    if (this.scheduler.waiting > 0 && this.backoffUntil > now && !this.closed) at = this.backoffUntil
    for (const item of this.elsewhere) at = Math.min(at, item.at)
    return at
  }

  /** The next upstream request, now that a pacer slot is held; undefined if nothing may start. */
  depart(now: number): Departure | undefined {
    if (!this.canStart(now)) return undefined
    const formed = this.scheduler.take()
    if (!formed) return undefined
    const request = ++this.lastRequest
    this.flying.set(request, { entries: formed.entries, startedAt: now })
    this.totals.requests++
    if (formed.isolation) this.totals.isolations++
    return { request, parcels: formed.entries.map((entry) => entry.parcel) }
  }

  /** Acts on the answer to an upstream request. */
  answered(now: number, request: number, outcome: Outcome): void {
    const flight = this.flying.get(request)
    if (!flight) return
    this.flying.delete(request)
    const { entries, startedAt } = flight
    if (outcome.kind === 'ok') {
      // Evidence newer than the last failure that upstream works again.
      if (startedAt >= this.lastFailureAt) this.failures = 0
      for (const entry of entries) this.ledger.settle(entry, { kind: 'accepted' })
      this.effects.acknowledge.push(entries.map(keyOf))
    } else if (outcome.kind === 'retry') {
      this.totals.retries++
      this.backOff(outcome, startedAt, now)
      this.sendAgain([entries], now)
    } else if (outcome.kind === 'halt') {
      this.halt(now, outcome.reason)
      this.letGo(entries, this.unavailable(now))
    } else if (entries.length === 1) {
      this.reject(entries[0] as Entry, outcome.kind === 'too-large' ? `too large for Conversion (${outcome.reason})` : outcome.reason)
    } else if (outcome.kind === 'too-large') {
      this.scheduler.lowerBatchBytes(Math.max(1_024, Math.floor(entries.reduce((sum, entry) => sum + entry.parcel.wireBytes, 0) / 2)))
      this.sendAgain(splitUnder(entries, this.scheduler.batchBytes), now)
    } else this.isolate(entries, outcome, now)
  }

  /** The memory has stored (or failed to store) what Conversion acknowledged: the ids may go. */
  remembered(keys: readonly MemoryKey[], failed: boolean): void {
    if (failed) this.totals.memoryFailures++
    for (const { id } of keys) {
      const entry = this.ledger.held.get(id)
      if (entry?.fate) this.ledger.unhold(entry)
    }
  }

  /** A submit's deadline came. */
  expire(now: number, submit: number, deadlineMs: number): void {
    const open = this.ledger.open.get(submit)
    if (open) this.ledger.finish(open, this.busy(now, `Not settled within ${deadlineMs} ms; the engagements stay queued`))
  }

  close(now: number): void {
    if (this.closed) return
    this.closed = true
    const result = this.unavailable(now)
    this.ledger.finishAll(result)
    this.letGo(this.scheduler.takeAll(), result)
    this.letGo(this.elsewhere.map((item) => item.entry), result)
    this.elsewhere = []
  }

  /** Time until the backlog is sent at full rate, after the backoff: what a client should wait. */
  retryAfterMs(now: number, waiting = this.scheduler.waiting): number {
    const { batchSize, requestsPerWindow, windowMs } = this.settings
    const drainMs = Math.ceil((Math.ceil(waiting / batchSize) / requestsPerWindow) * windowMs)
    return Math.max(windowMs, Math.max(0, this.backoffUntil - now) + drainMs)
  }

  private refusal(now: number, parcels: readonly Parcel[], client: string, identified: boolean, deadlineMs: number): Refusal | undefined {
    if (this.closed || this.isHalted(now)) return this.unavailable(now)
    let count = 0
    let bytes = 0
    for (const parcel of parcels) {
      if (this.ledger.held.has(parcel.id) || this.refusals.has(parcel)) continue
      count++
      bytes += parcel.heldBytes
    }
    if (count === 0) return undefined
    const { maxBacklog, maxHeldBytes, clientShare } = this.settings
    const usage = this.ledger.usageOf(client)
    if (identified && (usage.count + count > maxBacklog * clientShare || usage.bytes + bytes > maxHeldBytes * clientShare)) {
      return {
        kind: 'throttled',
        retryAfterMs: this.retryAfterMs(now, usage.count * Math.max(1, this.ledger.clients)),
        reason: `This client holds ${usage.count} engagements (${usage.bytes} bytes), its share of the proxy`,
      }
    }
    if (this.ledger.held.size + count > maxBacklog) {
      return this.busy(now, `The proxy is full: it holds ${this.ledger.held.size} engagements of at most ${maxBacklog}`)
    }
    if (this.ledger.heldBytes + bytes > maxHeldBytes) {
      return this.busy(now, `The proxy is full: its engagements take ${this.ledger.heldBytes} bytes of at most ${maxHeldBytes}`)
    }
    // Nothing can be sent before the deadline: say so now rather than hold the request open.
    if (this.backoffUntil - now >= deadlineMs) {
      return this.busy(now, 'Conversion is failing or asked to slow down; the proxy is waiting before its next request')
    }
    return undefined
  }

  private recall(entries: Entry[]): void {
    const token = ++this.lastToken
    this.recalling.set(token, entries)
    this.effects.recall.push({ token, keys: entries.map(keyOf) })
  }

  private reject(entry: Entry, reason: string): void {
    this.refusals.remember(entry.parcel, reason)
    this.ledger.unhold(entry)
    if (entry.claimed) this.effects.release.push(keyOf(entry))
    this.ledger.settle(entry, { kind: 'rejected', reason })
  }

  /**
   * Conversion refused a batch of several: split it by client request first, so no request's
   * engagements are held hostage by another's, then by halves; each request sent for it is
   * charged to the budget of the client request whose engagements it carries.
   */
  private isolate(entries: Entry[], outcome: Failure, now: number): void {
    const groups = isolationGroups(entries, halve)
    const queued: Entry[][] = []
    for (const group of groups) {
      const budget = (group[0] as Entry).budget
      if (budget.left > 0) {
        budget.left--
        queued.push(group)
        continue
      }
      const why = `${outcome.reason}; not isolated further: the isolation budget of its request (${this.settings.isolationBudget} upstream requests) is spent`
      for (const entry of group) this.reject(entry, why)
    }
    if (this.closed || this.isHalted(now)) this.letGo(queued.flat(), this.unavailable(now))
    else this.scheduler.isolate(queued)
  }

  /** Puts batches back at the head of the line, or lets them go when sending has stopped. */
  private sendAgain(batches: Entry[][], now: number): void {
    if (this.closed || this.isHalted(now)) this.letGo(batches.flat(), this.unavailable(now))
    else this.scheduler.retry(batches)
  }

  /** Lets entries go unsent, and gives up their claims. */
  private letGo(entries: readonly Entry[], result: Refusal): void {
    for (const entry of entries) if (entry.claimed) this.effects.release.push(keyOf(entry))
    this.ledger.release(entries, result)
  }

  /**
   * One backoff for everyone: the upstream is shared. Only a request started after the last
   * failure raises the exponent; requests that were in flight together fail together and count once.
   */
  private backOff(outcome: { afterMs?: number }, startedAt: number, now: number): void {
    if (startedAt >= this.lastFailureAt) this.failures++
    this.lastFailureAt = now
    const delayMs = retryDelay(outcome, this.failures - 1, this.settings.retry, this.settings.random)
    this.backoffUntil = Math.max(this.backoffUntil, now + delayMs)
  }

  private halt(now: number, reason: string): void {
    this.halted = { reason, until: now + this.settings.haltCooldownMs }
    const result = this.unavailable(now)
    this.ledger.finishAll(result)
    this.letGo(this.scheduler.takeAll(), result)
  }

  busy(now: number, reason: string): Refusal {
    return { kind: 'busy', retryAfterMs: this.retryAfterMs(now), reason }
  }

  /** The answer while closed or halted. */
  unavailable(now: number): Refusal {
    const { halted } = this
    if (this.closed || !halted) return { kind: 'unavailable', retryAfterMs: this.settings.windowMs, reason: 'The proxy is shutting down' }
    return {
      kind: 'unavailable',
      retryAfterMs: Math.max(0, halted.until - now),
      // Built from the upstream's status and message only, never from anything we were configured with.
      reason: `Conversion refused the proxy (${halted.reason}); sending is paused. Check the proxy's API key and upstream URL.`,
    }
  }

  private count(result: SubmitResult): void {
    if (result.kind === 'settled') {
      this.totals.accepted += result.accepted
      this.totals.duplicates += result.duplicates
      this.totals.rejected += result.rejected.length
    } else this.totals[result.kind]++
  }
}

/** Why an id is refused when other content holds it. */
function conflict(id: string, where: string): string {
  return `id ${JSON.stringify(id)} ${where} with different content: an id names one engagement; give this one its own id`
}
