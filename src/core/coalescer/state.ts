/**
 * The Coalescer's decisions, apart from time: every method takes `now` and records what to do
 * (answers, questions for the memory) in {@link Effects}, which the driver carries out. No timer,
 * promise or I/O here, so every decision is tested with plain calls.
 */
import type { Outcome } from '../outcome.js'
import { refusalOf } from './admission.js'
import { countAnswer, keyOf, noEffects, zeroTotals, type Departure, type Effects } from './effects.js'
import type { Entry } from './entry.js'
import { UpstreamHealth } from './health.js'
import { Flights } from './flights.js'
import { Isolation, splitUnder } from './isolation.js'
import { Ledger } from './ledger.js'
import type { CoalescerSettings } from './options.js'
import { Questions } from './questions.js'
import { conflictReason, Refusals } from './refusals.js'
import { Scheduler } from './scheduler.js'
import type { MemoryKey, Parcel, Recall, Refusal, SubmitOptions } from './types.js'

export type { Departure, Effects } from './effects.js'

export class CoalescerState {
  readonly totals = zeroTotals()
  readonly ledger = new Ledger((result) => countAnswer(this.totals, result))
  readonly scheduler: Scheduler
  readonly refusals = new Refusals()
  readonly health: UpstreamHealth
  private effects = noEffects()
  private readonly questions = new Questions()
  private readonly isolation: Isolation
  readonly flights = new Flights()

  constructor(readonly settings: CoalescerSettings) {
    this.scheduler = new Scheduler(settings.batchSize, settings.maxBatchBytes)
    // Remembered as unchecked: answered so again when sent among others, checked when sent alone.
    this.isolation = new Isolation(this.scheduler, settings.isolationBudget, (entry, reason) => this.reject(entry, reason, true))
    this.health = new UpstreamHealth(settings)
  }

  /** The effects recorded since the last call, handed over once. */
  takeEffects(): Effects {
    const effects = { ...this.effects, answers: this.ledger.answers }
    this.ledger.answers = []
    this.effects = noEffects()
    return effects
  }

  /** Takes one client request; returns its number (its answer comes through the effects). */
  submit(now: number, parcels: readonly Parcel[], options: SubmitOptions = {}): number {
    this.totals.submits++
    this.totals.engagements += parcels.length
    const submit = this.ledger.openSubmit(options.listDuplicates)
    const client = options.client ?? ''
    const deadlineMs = options.deadlineMs ?? this.settings.deadlineMs
    const { settings, ledger, refusals, health } = this
    const refused = refusalOf(
      { settings, ledger, refusals, health, waiting: this.scheduler.waiting },
      now,
      parcels,
      options.client,
      deadlineMs,
    )
    if (refused) {
      this.ledger.finish(submit, refused)
      return submit.id
    }
    const budget = { left: this.settings.isolationBudget, flying: false, refusal: '' }
    const claimed: Entry[] = []
    for (const parcel of parcels) {
      const held = this.ledger.held.get(parcel.id)
      if (held && held.parcel.digest !== parcel.digest) {
        submit.refused.push({ id: parcel.id, reason: conflictReason(parcel.id, 'is being delivered') })
        this.totals.conflicts++
        continue
      }
      const known = held ?? this.refusals.entryFor(parcel, client, budget, parcels.length === 1)
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
    const entries = this.questions.answered(token)
    if (!verdicts) {
      this.totals.memoryFailures++
      this.ledger.release(entries, this.busy(now, 'The proxy could not read its memory of delivered engagements'))
      return
    }
    const stopped = this.health.stopped(now)
    entries.forEach((entry, index) => {
      const verdict = verdicts[index]
      if (verdict === 'new') entry.claimed = true
      if (verdict === 'known') {
        this.ledger.unhold(entry)
        this.ledger.settle(entry, { kind: 'known' })
      } else if (verdict === 'conflict') {
        this.totals.conflicts++
        this.ledger.unhold(entry)
        this.ledger.settle(entry, { kind: 'rejected', reason: conflictReason(entry.parcel.id, 'was delivered before') })
      } else if (stopped) this.letGo([entry], this.health.unavailable(now))
      else if (verdict === 'pending') this.questions.later(entry, now)
      else this.scheduler.enqueue(entry)
    })
  }

  /** Asks again about entries another sender was delivering, once their time comes. */
  poll(now: number): void {
    const asked: Entry[] = []
    for (const entry of this.questions.due(now)) {
      // Nobody waits for it any more: its client will send it again if it must.
      if (entry.waiters.size === 0) this.ledger.unhold(entry)
      else asked.push(entry)
    }
    if (asked.length > 0) this.recall(asked)
  }

  /** Whether a request may start now, pacer aside. */
  canStart(now: number): boolean {
    return !this.health.stopped(now) && this.scheduler.waiting > 0 && now >= this.health.backoffUntil
  }

  /** When the state needs the driver again without any event: a backoff ending, a poll due. */
  wakeAt(now: number): number {
    let at = Infinity
    const { backoffUntil, closed } = this.health
    if (this.scheduler.waiting > 0 && backoffUntil > now && !closed) at = backoffUntil
    return Math.min(at, this.questions.nextAt)
  }

  /** The next upstream request, now that a pacer slot is held; undefined if nothing may start. */
  depart(now: number): Departure | undefined {
    if (!this.canStart(now)) return undefined
    const formed = this.scheduler.take()
    if (!formed) return undefined
    const request = this.flights.depart(formed, now)
    this.totals.requests++
    if (formed.isolation) this.totals.isolations++
    return { request, parcels: formed.entries.map((entry) => entry.parcel) }
  }

  /** Acts on the answer to an upstream request. */
  answered(now: number, request: number, outcome: Outcome): void {
    const flight = this.flights.land(request)
    if (!flight) return
    const { entries, startedAt } = flight
    if (outcome.kind === 'ok') {
      this.health.succeeded(startedAt)
      for (const entry of entries) this.ledger.settle(entry, { kind: 'accepted' })
      this.effects.acknowledge.push(entries.map(keyOf))
    } else if (outcome.kind === 'retry') {
      this.totals.retries++
      this.health.failed(outcome, startedAt, now)
      this.sendAgain([entries], now)
    } else if (outcome.kind === 'halt') {
      this.halt(now, outcome.reason)
      this.letGo(entries, this.health.unavailable(now))
    } else if (entries.length === 1) {
      this.reject(entries[0] as Entry, outcome.kind === 'too-large' ? `too large for Conversion (${outcome.reason})` : outcome.reason)
    } else if (outcome.kind === 'too-large') {
      this.scheduler.lowerBatchBytes(Math.max(1_024, Math.floor(entries.reduce((sum, entry) => sum + entry.parcel.wireBytes, 0) / 2)))
      this.sendAgain(splitUnder(entries, this.scheduler.batchBytes), now)
    } else if (this.health.stopped(now)) this.letGo(entries, this.health.unavailable(now))
    else this.isolation.start(entries, outcome.reason)
    if (flight.isolation) this.isolation.answered(entries, outcome.kind === 'ok')
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
    if (this.health.closed) return
    this.health.closed = true
    const result = this.health.unavailable(now)
    this.ledger.finishAll(result)
    this.letGo(this.scheduler.takeAll(), result)
    this.letGo(this.questions.takeAll(), result)
  }

  private recall(entries: Entry[]): void {
    this.effects.recall.push({ token: this.questions.ask(entries), keys: entries.map(keyOf) })
  }

  /** Settles an entry as refused, and remembers why (`unchecked`: a suspect past its budget). */
  private reject(entry: Entry, reason: string, unchecked = false): void {
    this.refusals.remember(entry.parcel, reason, unchecked)
    this.ledger.unhold(entry)
    if (entry.claimed) this.effects.release.push(keyOf(entry))
    this.ledger.settle(entry, unchecked ? { kind: 'rejected', reason, unchecked } : { kind: 'rejected', reason })
  }

  /** Puts batches back at the head of the line, or lets them go when sending has stopped. */
  private sendAgain(batches: Entry[][], now: number): void {
    if (this.health.stopped(now)) this.letGo(batches.flat(), this.health.unavailable(now))
    else this.scheduler.retry(batches)
  }

  /** Lets entries go unsent, and gives up their claims. */
  private letGo(entries: readonly Entry[], result: Refusal): void {
    for (const entry of entries) if (entry.claimed) this.effects.release.push(keyOf(entry))
    this.ledger.release(entries, result)
  }

  private halt(now: number, reason: string): void {
    this.health.halt(reason, now)
    const result = this.health.unavailable(now)
    this.ledger.finishAll(result)
    this.letGo(this.scheduler.takeAll(), result)
  }

  busy(now: number, reason: string): Refusal {
    return { kind: 'busy', retryAfterMs: this.health.retryAfterMs(now, this.scheduler.waiting), reason }
  }
}
