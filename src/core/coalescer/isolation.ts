/** How a refused batch is taken apart to find what Conversion refuses, within each client request's budget. */
import { halve, splitIntoBatches } from '../batch.js'
import { BATCH_ENVELOPE_BYTES } from '../parcel.js'
import type { Entry, IsolationBudget } from './entry.js'
import type { Scheduler } from './scheduler.js'

/**
 * The groups to send next after Conversion refused `entries`: one per client request when they
 * came from several (so no request's engagements wait on another's), else the two halves.
 */
export function isolationGroups(entries: readonly Entry[]): Entry[][] {
  const byRequest = new Map<object, Entry[]>()
  for (const entry of entries) {
    const group = byRequest.get(entry.budget) ?? []
    group.push(entry)
    byRequest.set(entry.budget, group)
  }
  return byRequest.size > 1 ? [...byRequest.values()] : halve(entries)
}

/** `entries` in consecutive batches whose bodies fit `maxBytes` (an entry larger than it alone). */
export function splitUnder(entries: readonly Entry[], maxBytes: number): Entry[][] {
  return splitIntoBatches(
    entries,
    { maxCount: Infinity, maxBytes, envelopeBytes: BATCH_ENVELOPE_BYTES - 2 },
    (entry) => entry.parcel.wireBytes,
  )
}

/** Why a suspect is rejected unchecked once its client request's isolation budget is spent. */
export function uncheckedReason(refusal: string, budget: number): string {
  return (
    `Conversion refused a batch holding it (${refusal}) and the isolation budget of its request (${budget} upstream requests) ` +
    'was spent before it could be checked alone: it may be valid; send it again in a request of its own'
  )
}

/**
 * The isolation work under way: the groups queued to be sent alone (in the scheduler), which
 * half of a refused batch goes with which, and each client request's budget. Each request sent
 * for it is charged, when it leaves, to the budget of the client request whose engagements it
 * carries (see `Flights.depart`).
 */
export class Isolation {
  /** The second half of a refused batch, by its first half (sent first). */
  private readonly siblings = new WeakMap<Entry[], Entry[]>()

  constructor(
    private readonly scheduler: Scheduler,
    private readonly budget: number,
    /** Settles a suspect left unchecked once its request's budget is spent. */
    private readonly rejectUnchecked: (entry: Entry, reason: string) => void,
  ) {}

  /**
   * Conversion refused a batch of several: split it by client request first, so no request's
   * engagements are held hostage by another's, then by halves, sent depth first.
   */
  start(entries: readonly Entry[], refusal: string): void {
    const groups = isolationGroups(entries)
    for (const group of groups) (group[0] as Entry).budget.refusal = refusal
    const [first, second] = groups as [Entry[], Entry[]]
    if (groups.length === 2 && first[0]?.budget === second[0]?.budget) this.siblings.set(first, second)
    this.scheduler.isolate(groups)
    for (const group of groups) this.closeIfSpent((group[0] as Entry).budget)
  }

  /**
   * An isolation request was answered (`refused` when its group is being taken apart already).
   * When Conversion took the first half of a refused batch, the second must hold what it refused:
   * it is halved at once, without a request of its own (one alone is still sent: only its own
   * refusal rejects it).
   */
  answered(entries: Entry[], accepted: boolean): void {
    const { budget } = entries[0] as Entry
    const sibling = this.siblings.get(entries)
    if (accepted && sibling && sibling.length > 1 && this.scheduler.withdrawGroup(sibling)) this.start(sibling, budget.refusal)
    this.closeIfSpent(budget)
  }

  /**
   * Once a client request's budget is spent and none of its isolation requests is out, its
   * suspects still queued are rejected, unchecked, with a reason that says so.
   */
  private closeIfSpent(budget: IsolationBudget): void {
    if (budget.left > 0 || budget.flying) return
    for (const entry of this.scheduler.withdraw(budget)) this.rejectUnchecked(entry, uncheckedReason(budget.refusal, this.budget))
  }
}
