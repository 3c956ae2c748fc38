import type { DraftEngagement } from '../contract.js'
import type { Contact } from './engagement.js'
import { createEntry, isHeld, type Outbox, type OutboxEntry } from './outbox.js'
import type { TrackerEvent } from './types.js'

/** What the intake needs from the tracker around it. */
export interface IntakeContext {
  outbox: Outbox
  /** Settles once what an earlier visit stored is known: no write starts before. */
  ready: Promise<unknown>
  /** Who engagements are for when a release runs, and whether tracking is off. */
  session: { readonly contact: Contact | undefined; readonly optedOut: boolean }
  /** Sendable entries were stored: whoever sends should hear of them. */
  stored: (entries: OutboxEntry[]) => void
  emit: (event: TrackerEvent) => void
  fault: (what: string) => (error: unknown) => void
}

/** The way into the outbox: writes in one go what a tick tracked, and clears it on opt-out. */
export interface Intake {
  /** Queues an engagement, tracked at `time`, for the next write; returns its entry. */
  add(engagement: DraftEngagement, signature: string | undefined, time: number): OutboxEntry
  /** Makes the held entries sendable with the contact known when the write runs. */
  release(): void
  /** This page opted out: deletes every entry. */
  clear(): void
  /**
   * Another tab opted out and cleared the outbox. What this tab is still storing lands after that
   * clear, and what it keeps in memory is out of the clear's reach: both are deleted here.
   */
  clearedElsewhere(): void
  /**
   * Entries tracked here whose write has not completed. A page that closes aborts its unfinished
   * IndexedDB writes, so on the way out they are handed to the tab that sends.
   */
  unsaved(): OutboxEntry[]
  /** Resolves once the latest write or clear asked for is done (never rejects). */
  written(): Promise<unknown>
}

export function createIntake(context: IntakeContext): Intake {
  const { outbox, ready, session } = context
  /** This tab's call counter: keeps the order of engagements tracked in the same millisecond. */
  let sequence = 0
  const unsaved = new Set<OutboxEntry>()
  /** Entries tracked since the last write was queued, which it will take. */
  let collecting: OutboxEntry[] | undefined
  let latest: Promise<unknown> = ready

  /** After `write` stores entries, tells whoever sends of the sendable ones. */
  const queue = (write: () => Promise<OutboxEntry[]>) => {
    latest = ready
      .then(async () => {
        if (session.optedOut) {
          // Tracked before the stored opt-out was read: not kept, and the next call starts afresh.
          collecting = undefined
          unsaved.clear()
          return
        }
        const entries = (await write()).filter((entry) => !isHeld(entry))
        if (entries.length > 0) context.stored(entries)
      })
      .catch(context.fault('queueing'))
  }

  /** Deletes what `clear` finds, and tells this page's subscribers. */
  const discard = (clear: () => Promise<string[]>) => {
    latest = ready
      .then(clear)
      .then((ids) => ids.length > 0 && context.emit({ type: 'dropped', ids, reason: 'opted-out' }))
      .catch(context.fault('opting out'))
  }

  return {
    add(engagement, signature, time) {
      const entry = createEntry(engagement, signature, time, sequence++)
      unsaved.add(entry)
      if (!collecting) {
        const entries: OutboxEntry[] = (collecting = [])
        // One write, one notice to the sender for every engagement tracked until it starts.
        queue(async () => {
          collecting = undefined
          await outbox.append(entries)
          for (const written of entries) unsaved.delete(written)
          return entries
        })
      }
      collecting.push(entry)
      return entry
    },
    release: () =>
      queue(async () => {
        const { contact } = session
        return contact ? outbox.release(contact) : []
      }),
    clear: () => discard(() => outbox.clear()),
    clearedElsewhere() {
      const late = [...unsaved]
      discard(() => outbox.clearedElsewhere(late))
    },
    unsaved: () => [...unsaved],
    written: () => latest,
  }
}
