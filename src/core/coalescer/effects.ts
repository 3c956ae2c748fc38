/** What the Coalescer's state asks its driver to do, and the counters it keeps. */
import type { Entry } from './entry.js'
import type { CoalescerTotals, MemoryKey, Parcel, SubmitResult } from './types.js'

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

export const noEffects = (): Effects => ({ answers: [], recall: [], acknowledge: [], release: [], deadlines: [] })

export const keyOf = (entry: Entry): MemoryKey => ({ id: entry.parcel.id, digest: entry.parcel.digest })

export const zeroTotals = (): CoalescerTotals => ({
  submits: 0,
  engagements: 0,
  accepted: 0,
  duplicates: 0,
  rejected: 0,
  conflicts: 0,
  throttled: 0,
  busy: 0,
  unavailable: 0,
  requests: 0,
  retries: 0,
  isolations: 0,
  memoryFailures: 0,
})

/** Counts what a client request was answered. */
export function countAnswer(totals: CoalescerTotals, result: SubmitResult): void {
  if (result.kind === 'settled') {
    totals.accepted += result.accepted
    totals.duplicates += result.duplicates
    totals.rejected += result.rejected.length
  } else totals[result.kind]++
}
