/**
 * The books of one scenario: which engagements the page tracked (their ids, as `track()`
 * returned them) and what the tracker said became of them, set against what Conversion (the
 * emulator) recorded. Counting happens AT THE EMULATOR: delivered means recorded there,
 * duplicated means recorded there more than once.
 */
import type { TrackerError, TrackerEvent } from '../../../src/tracker/types.js'

/** One line of the summary table. */
export interface Row {
  scenario: string
  tracked: number
  delivered: number
  duplicated: number
  /** Refused for good, with a reason the page heard: not lost. */
  rejected: number
  lost: number
  verdict: string
  note?: string
}

export interface Counts {
  tracked: number
  delivered: number
  /** Extra copies recorded at the emulator, of any id. */
  duplicated: number
  rejected: number
  lost: number
  /** Ids recorded at the emulator that no page tracked (something invalid got through). */
  foreign: number
  /** Rejections of engagements that should have been delivered. */
  wrongfulRejections: number
  lostIds: string[]
  /** How many were lost of each label. */
  lostByLabel: Record<string, number>
}

export class Ledger {
  readonly tracked = new Set<string>()
  /** What each engagement was tracked as (the `name` prefix), to say which ones went missing. */
  readonly labels = new Map<string, string>()
  /** Engagements the scenario made refusable on purpose (a type Conversion refuses). */
  readonly expectRejected = new Set<string>()
  readonly rejected = new Map<string, string>()
  readonly dropped = new Map<string, string>()
  readonly errors: TrackerError[] = []
  /**
   * Engagements of the scenario's hostile clients, told by their id: they may reach Conversion
   * without being tracked (they are not foreign), and are not owed delivery; a second copy of
   * one still counts as duplicated.
   */
  readonly untracked: ((id: string) => boolean)[] = []
  /** Duplicates the proxy reported in settlements: re-sends answered without reaching Conversion. */
  answeredAsDuplicates = 0
  retried = 0

  record(event: TrackerEvent): void {
    switch (event.type) {
      case 'sent':
        this.answeredAsDuplicates += event.duplicates
        return
      case 'rejected':
        this.rejected.set(event.id, event.reason)
        return
      case 'dropped':
        for (const id of event.ids) this.dropped.set(id, event.reason)
        return
      case 'retried':
        this.retried += event.ids.length
        return
      case 'error':
        this.errors.push(event.error)
        return
      default:
        return
    }
  }

  count(recordedIds: readonly string[]): Counts {
    const recorded = new Map<string, number>()
    for (const id of recordedIds) recorded.set(id, (recorded.get(id) ?? 0) + 1)
    let delivered = 0
    let rejected = 0
    let wrongfulRejections = 0
    const lostIds: string[] = []
    for (const id of this.tracked) {
      if (recorded.has(id)) delivered++
      else if (this.rejected.has(id)) {
        rejected++
        if (!this.expectRejected.has(id)) wrongfulRejections++
      } else lostIds.push(id)
    }
    let duplicated = 0
    let foreign = 0
    for (const [id, times] of recorded) {
      duplicated += times - 1
      if (!this.tracked.has(id) && !this.untracked.some((isHostile) => isHostile(id))) foreign++
    }
    const lostByLabel: Record<string, number> = {}
    for (const id of lostIds) {
      const label = this.labels.get(id) ?? '?'
      lostByLabel[label] = (lostByLabel[label] ?? 0) + 1
    }
    return {
      tracked: this.tracked.size,
      delivered,
      duplicated,
      rejected,
      lost: lostIds.length,
      foreign,
      wrongfulRejections,
      lostIds,
      lostByLabel,
    }
  }
}
