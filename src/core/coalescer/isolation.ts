/** How a refused batch is taken apart to find what Conversion refuses. */
import { splitIntoBatches } from '../batch.js'
import { BATCH_ENVELOPE_BYTES } from '../parcel.js'
import type { Entry } from './entry.js'

/**
 * The groups to send next after Conversion refused `entries`: one per client request when they
 * came from several (so no request's engagements wait on another's), else the two halves.
 */
export function isolationGroups(entries: readonly Entry[], halve: (items: readonly Entry[]) => [Entry[], Entry[]]): Entry[][] {
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
  return splitIntoBatches(entries, { maxCount: Infinity, maxBytes, envelopeBytes: BATCH_ENVELOPE_BYTES - 2 }, (entry) => entry.parcel.wireBytes)
}

/** Charges each group's request to the budget of the client request it carries: the groups to send, and the entries whose budget is spent. */
export function chargeIsolation(groups: readonly Entry[][]): { queued: Entry[][]; spent: Entry[] } {
  const queued: Entry[][] = []
  const spent: Entry[] = []
  for (const group of groups) {
    const budget = (group[0] as Entry).budget
    if (budget.left > 0) {
      budget.left--
      queued.push(group)
    } else spent.push(...group)
  }
  return { queued, spent }
}
