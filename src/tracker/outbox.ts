import type { DraftEngagement } from '../contract.js'
import { createCaps } from './caps.js'
import type { Contact } from './engagement.js'
import { createEntry, HELD, idOf, isHeld, releasedEntry, SENDABLE, type OutboxEntry } from './entry.js'
import { createMirror } from './mirror.js'
import type { Platform, ResolvedOptions } from './options.js'
import type { Session } from './session.js'
import type { FallbackStore } from './store.js'
import type { DropReason } from './types.js'

export { createEntry, isHeld, trackedAt, type OutboxEntry } from './entry.js'

/**
 * Entries per write transaction. Transactions on one store run in the order they were created, so
 * the sender's read of the next batch waits for every write created before it: a burst written
 * in one go would hold the first batch back until all of it is stored (a second for 20,000).
 * Writes are therefore created one at a time, each once the one before has committed, and each
 * carries at most this many entries. It also bounds the main thread's share: each put costs tens
 * of microseconds (the value is cloned), and 10,000 in one task would block the page.
 */
const WRITE_SLICE = 400

/** What {@link createOutbox} needs. */
export interface OutboxOptions {
  /** Where entries live, shared with the settings. */
  store: FallbackStore
  /** The caps, and the clock. */
  options: Pick<ResolvedOptions, 'maxQueueSize' | 'maxHeld'> & { platform: Pick<Platform, 'now'> }
  /**
   * Nothing is written before `ready` settles (what an earlier visit stored decides what is
   * kept), and nothing is kept once `optedOut`, as the write or the release starts.
   */
  session: Pick<Session, 'ready' | 'optedOut'>
  /** Sendable entries were stored (once per slice written, and per release): whoever sends should hear of them. */
  onStored: (entries: OutboxEntry[]) => void
  /** Told which engagements a cap pushed out. */
  onDrop: (ids: string[], reason: DropReason) => void
  /** Told when a write, a release or a clear failed. */
  onFault: (error: unknown) => void
}

/**
 * The durable FIFO of engagements, with a synchronous mirror of its head for the page-hide path.
 * Appends, releases and clears run one after another, in the order they were asked for.
 */
export interface Outbox {
  /** Queues `engagement`, tracked at `time` (held while it has no contact), and returns its entry. */
  add(engagement: DraftEngagement, signature: string | undefined, time: number): OutboxEntry
  /**
   * Adds entries another tab made. `stored`: that tab stored them, so they are remembered for the
   * page-hide path and told of as stored; else they are written with what this tab adds until
   * the next write starts (see WRITE_SLICE), and the caps drop the oldest beyond them.
   */
  append(entries: OutboxEntry[], stored?: boolean): void
  /** Resolves when every append, release and clear asked for so far is done (never rejects). */
  written(): Promise<unknown>
  /** Entries appended here whose write has not completed: a closing page aborts it, so they are handed over. */
  unsaved(): OutboxEntry[]
  /** Up to `limit` sendable entries after `after` (or from the oldest), oldest first. */
  head(after: OutboxEntry | undefined, limit: number): Promise<OutboxEntry[]>
  /** Removes the entries of these keys, delivered or given up. */
  remove(keys: readonly string[]): Promise<void>
  /** Notes that a beacon carried `entries` (oldest first) at `at`, so they are not sent again at once; none that is gone comes back. */
  markBeaconed(entries: readonly OutboxEntry[], at: number): Promise<void>
  /** Makes every held entry appended or stored before this call sendable, in order, with `contact`. */
  release(contact: Contact): void
  /** Deletes every entry; resolves with their ids. */
  clear(): Promise<string[] | undefined>
  /** Another tab cleared the outbox: deletes what its clear could not reach (this page's later writes, its memory store). */
  clearedElsewhere(): Promise<string[] | undefined>
  /** Another tab removed the entries of these keys (from memory storage too: it is this page's own). */
  removedElsewhere(keys: readonly string[]): void
  /** How many entries wait, held ones included, and how many are held. */
  count(): Promise<{ queued: number; held: number }>
  /** Sendable entries this page knows to be in the outbox, oldest first, synchronously: what a beacon can still carry. */
  unsent(): OutboxEntry[]
}

export function createOutbox({ store, options, session, onStored, onDrop, onFault }: OutboxOptions): Outbox {
  const { run } = store
  const mirror = createMirror()
  const { remember, forget } = mirror
  /** This tab's call counter: keeps apart, in order, entries tracked in the same millisecond. */
  let sequence = 0
  /** Appended and not written yet: a batch per write queued and not started, oldest first. */
  const pending: OutboxEntry[][] = []
  /** Whether what is appended now needs a write of its own: the last batch's write started, or a release came after it. */
  let sealed = true
  /** Entries of the write under way, until it completes. */
  let writing: OutboxEntry[] = []
  // The last job queued (write, release, clear). Each waits for the one before: being created after a write is
  // not enough, as the later slices of a burst are created only once the earlier ones commit.
  let lastJob: Promise<unknown> = session.ready

  const caps = createCaps(options)

  /** Runs `job` after every job queued before it, however that one ended. */
  const queue = <T>(job: () => Promise<T>): Promise<T | undefined> =>
    (lastJob = lastJob.then(job, job).catch((error) => void onFault(error)))

  const write = async () => {
    writing = pending.shift()!
    sealed ||= !pending.length
    if (session.optedOut) {
      // Tracked before the stored opt-out was read: not kept.
      writing.forEach((entry) => forget(entry.key))
    } else {
      for (let start = 0; start < writing.length; start += WRITE_SLICE) {
        const slice = writing.slice(start, start + WRITE_SLICE)
        const dropped = await run('readwrite', async (tx) => {
          slice.forEach((entry) => tx.put(entry.key, entry))
          return caps.enforce(tx, slice)
        })
        for (const [keys, reason] of dropped) {
          keys.forEach(forget)
          onDrop(keys.map(idOf), reason)
        }
        // Told per slice: the sender starts on the first while the rest are written.
        announce(slice)
      }
    }
    writing = []
  }

  const announce = (entries: OutboxEntry[]) => {
    const sendable = entries.filter((entry) => !isHeld(entry))
    if (sendable.length) onStored(sendable)
  }

  /** Deletes the entries of `keys` from the store. */
  const deleteKeys = (keys: readonly string[]) => run('readwrite', async (tx) => keys.forEach((key) => tx.delete(key)))

  const clear = () => {
    mirror.clear()
    caps.recount()
    return queue(() =>
      run('readwrite', async (tx) => {
        const keys = [...(await tx.read('getAllKeys', HELD)), ...(await tx.read('getAllKeys', SENDABLE))]
        keys.forEach((key) => tx.delete(key))
        return keys.map(idOf)
      }),
    )
  }

  const unsaved = () => [...writing, ...pending.flat()]

  const append = (entries: OutboxEntry[], stored?: boolean) => {
    entries.forEach(remember)
    if (stored) return announce(entries)
    // The first entry queues the write that takes every one appended until it starts or a release is asked for.
    if (sealed) {
      sealed = false
      pending.push([])
      void queue(write)
    }
    pending[pending.length - 1]!.push(...entries)
  }

  return {
    add(engagement, signature, time) {
      const entry = createEntry(engagement, signature, time, sequence++)
      append([entry])
      return entry
    },
    append,
    written: () => lastJob,
    unsaved,
    async head(after, limit) {
      // `key + '\0'` is the first key above `key`.
      const span = after ? { ...SENDABLE, start: `${after.key}\0` } : SENDABLE
      const stored = after ? [] : mirror.stored(unsaved())
      const entries = await run('readonly', (tx) => tx.read<OutboxEntry>('getAll', span, limit))
      mirror.missed(stored, entries, limit)
      entries.forEach(remember)
      return entries
    },
    async remove(keys) {
      keys.forEach(forget)
      await deleteKeys(keys)
    },
    async markBeaconed(entries, at) {
      for (const entry of entries) entry.beaconAt = at
      // The mirror may hold an entry another tab delivered meanwhile (its message missed): written back, it
      // would be sent again. Only what is stored, or still to be written here, is written.
      const span = { start: entries[0]!.key, end: `${entries[entries.length - 1]!.key}\0` }
      const keys = new Set(unsaved().map((entry) => entry.key))
      await run('readwrite', async (tx) => {
        for (const key of await tx.read('getAllKeys', span)) keys.add(key)
        for (const entry of entries) {
          if (keys.has(entry.key)) tx.put(entry.key, entry)
          else forget(entry.key)
        }
      })
    },
    release(contact) {
      // What is appended from now on is not this contact's: it is written after the release.
      sealed = true
      void queue(async () => {
        if (session.optedOut) return
        const released = await run('readwrite', async (tx) =>
          (await tx.read<OutboxEntry>('getAll', HELD)).map((held) => {
            const entry = releasedEntry(held, contact)
            tx.delete(held.key)
            tx.put(entry.key, entry)
            remember(entry)
            return entry
          }),
        )
        caps.released(released.length)
        announce(released)
      })
    },
    clear,
    clearedElsewhere() {
      if (store.storage === 'memory') return clear()
      mirror.clear()
      const late = unsaved()
      return queue(async () => {
        await deleteKeys(late.map((entry) => entry.key))
        return late.map((entry) => entry.engagement.id)
      })
    },
    removedElsewhere(keys) {
      keys.forEach(forget)
      if (store.storage === 'memory') void deleteKeys(keys)
    },
    count: () =>
      run('readonly', async (tx) => {
        const held = await tx.read('count', HELD)
        return { queued: held + (await tx.read('count', SENDABLE)), held }
      }),
    unsent: mirror.entries,
  }
}
