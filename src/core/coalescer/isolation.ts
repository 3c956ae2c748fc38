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

/** Why a suspect is rejected unchecked once its client request's isolation budget is spent. */
export function uncheckedReason(refusal: string, budget: number): string {
  return (
    `Conversion refused a batch holding it (${refusal}) and the isolation budget of its request (${budget} upstream requests) ` +
    'was spent before it could be checked alone: it may be valid; send it again in a request of its own'
  )
}
