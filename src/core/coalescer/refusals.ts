/**
 * Refusals remembered, so that a refused engagement sent again is answered with the same
 * rejection at once instead of being isolated out of a batch again: Conversion's refusal is
 * permanent for the same engagement. Keyed by id AND content: another engagement under the same
 * id is not refused for what the first one held. A suspect rejected unchecked (its request's
 * isolation budget spent) is answered the same way when it comes again among others, so re-sends
 * cannot buy more isolation work, but checked when it comes in a request of its own.
 */
import type { Entry, Fate, IsolationBudget } from './entry.js'
import type { Parcel } from './types.js'

/** The newest refusals are kept; older ones are simply sent (and refused) again. */
const KEPT = 10_000

export class Refusals {
  /** Id -> the refused content's digest and why, oldest first. */
  private readonly byId = new Map<string, { digest: string; reason: string; unchecked: boolean }>()

  get size(): number {
    return this.byId.size
  }

  has(parcel: Parcel): boolean {
    return this.byId.get(parcel.id)?.digest === parcel.digest
  }

  remember(parcel: Parcel, reason: string, unchecked = false): void {
    this.byId.delete(parcel.id)
    this.byId.set(parcel.id, { digest: parcel.digest, reason, unchecked })
    if (this.byId.size > KEPT) this.byId.delete(this.byId.keys().next().value as string)
  }

  /** A settled entry for this very engagement, when it was refused before (`alone`: in a request of its own). */
  entryFor(parcel: Parcel, client: string, budget: IsolationBudget, alone: boolean): Entry | undefined {
    const refusal = this.byId.get(parcel.id)
    if (refusal?.digest !== parcel.digest || (refusal.unchecked && alone)) return undefined
    const fate: Fate = refusal.unchecked
      ? { kind: 'rejected', reason: refusal.reason, unchecked: true }
      : { kind: 'rejected', reason: refusal.reason }
    return { parcel, client, fate, waiters: new Set(), budget, claimed: false }
  }
}

/** Why an id is refused when other content holds it (`where`: "is being delivered", "was delivered before"). */
export function conflictReason(id: string, where: string): string {
  return `id ${JSON.stringify(id)} ${where} with different content: an id names one engagement; give this one its own id`
}
