/**
 * The Coalescer's books: which ids are held (and what each client holds, in engagements and in
 * bytes), which client requests wait for which entries, and the answers owed. An id is held by
 * one entry from the moment a client request brings it until it is settled and remembered: this
 * is what makes "never forward the same id twice" hold across any interleaving.
 */
import type { Entry, Fate, OpenSubmit, Waiter } from './entry.js'
import type { Refusal, SubmitResult } from './types.js'

/** What one client holds. */
export interface Usage {
  count: number
  bytes: number
}

export class Ledger {
  /** Every id held, whatever its state. */
  readonly held = new Map<string, Entry>()
  readonly open = new Map<number, OpenSubmit>()
  /** Answers decided and not yet handed to their callers. */
  answers: [submit: number, result: SubmitResult][] = []
  private readonly usage = new Map<string, Usage>()
  private bytes = 0
  private lastSubmit = 0

  constructor(private readonly count: (result: SubmitResult) => void) {}

  get heldBytes(): number {
    return this.bytes
  }

  get clients(): number {
    return this.usage.size
  }

  usageOf(client: string): Usage {
    return this.usage.get(client) ?? { count: 0, bytes: 0 }
  }

  hold(entry: Entry): void {
    this.held.set(entry.parcel.id, entry)
    const usage = this.usage.get(entry.client) ?? { count: 0, bytes: 0 }
    usage.count++
    usage.bytes += entry.parcel.heldBytes
    this.usage.set(entry.client, usage)
    this.bytes += entry.parcel.heldBytes
  }

  /** Lets go of an entry's id, if this entry still holds it. */
  unhold(entry: Entry): void {
    if (this.held.get(entry.parcel.id) !== entry) return
    this.held.delete(entry.parcel.id)
    this.bytes -= entry.parcel.heldBytes
    const usage = this.usage.get(entry.client) as Usage
    usage.count--
    usage.bytes -= entry.parcel.heldBytes
    if (usage.count === 0) this.usage.delete(entry.client)
  }

  openSubmit(listDuplicates = false): OpenSubmit {
    const submit: OpenSubmit = { id: ++this.lastSubmit, waiters: [], unsettled: 0, refused: [], done: false, listDuplicates }
    this.open.set(submit.id, submit)
    return submit
  }

  /** Makes `submit` wait for `entry` (or count it at once, when it is settled already). */
  wait(submit: OpenSubmit, entry: Entry, owner: boolean): void {
    const waiter: Waiter = { submit, entry, owner }
    submit.waiters.push(waiter)
    if (entry.fate) return
    entry.waiters.add(waiter)
    submit.unsettled++
  }

  /** Answers `submit` if nothing it carries is unsettled. */
  finishIfSettled(submit: OpenSubmit): void {
    if (submit.unsettled === 0) this.finish(submit, this.tally(submit))
  }

  /** Gives an entry its fate and answers every submit that waited only for it. */
  settle(entry: Entry, fate: Fate): void {
    entry.fate = fate
    for (const waiter of entry.waiters) {
      waiter.submit.unsettled--
      this.finishIfSettled(waiter.submit)
    }
    entry.waiters.clear()
  }

  /** Answers a submit once, and unhooks it from the entries it waited for. */
  finish(submit: OpenSubmit, result: SubmitResult): void {
    if (submit.done) return
    submit.done = true
    this.open.delete(submit.id)
    for (const waiter of submit.waiters) waiter.entry.waiters.delete(waiter)
    this.count(result)
    this.answers.push([submit.id, result])
  }

  /** Lets entries go unsent (halt, close, a failed memory): their clients still have them and send again. */
  release(entries: readonly Entry[], result: Refusal): void {
    for (const entry of entries) {
      this.unhold(entry)
      for (const waiter of [...entry.waiters]) this.finish(waiter.submit, result)
    }
  }

  /** Answers every open submit with `result`. */
  finishAll(result: Refusal): void {
    for (const submit of [...this.open.values()]) this.finish(submit, result)
  }

  private tally(submit: OpenSubmit): SubmitResult {
    const result: SubmitResult & { kind: 'settled' } = { kind: 'settled', accepted: 0, duplicates: 0, rejected: [...submit.refused] }
    const duplicateIds: string[] = []
    for (const { entry, owner } of submit.waiters) {
      const fate = entry.fate as Fate
      if (fate.kind === 'rejected')
        result.rejected.push(
          fate.unchecked ? { id: entry.parcel.id, reason: fate.reason, unchecked: true } : { id: entry.parcel.id, reason: fate.reason },
        )
      else if (fate.kind === 'accepted' && owner) result.accepted++
      else {
        result.duplicates++
        duplicateIds.push(entry.parcel.id)
      }
    }
    if (submit.listDuplicates) result.duplicateIds = duplicateIds
    return result
  }
}
