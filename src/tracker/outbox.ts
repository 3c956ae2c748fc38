import type { DraftEngagement } from '../contract.js'
import type { Contact } from './engagement.js'
import { carriedBytes, type Carried } from './request.js'
import type { FallbackStore, KeySpan, StoreTransaction } from './store.js'
import type { DropReason } from './types.js'

/**
 * One queued engagement and what the sender needs to know of it. Its `key` is the outbox's
 * business: others may compare keys and pass them around, never read into them.
 */
export interface OutboxEntry extends Carried {
  /** Unique within the origin; its string order is the outbox's order. */
  key: string
  /** Bytes of the engagement as JSON, its signature included: what it adds to a request. */
  bytes: number
  /** When a beacon carried it; a beacon brings no answer, so it stays until one does. */
  beaconAt?: number
}

/*
 * The key of an entry: `s` (sendable) or `h` (held until a contact is known), the time it was
 * tracked and the tracking tab's call counter in fixed-width base 36, then the engagement id,
 * which keeps tabs that track in the same millisecond apart.
 */
const SENDABLE = { from: 's', to: 't' } as const satisfies KeySpan
const HELD = { from: 'h', to: 'i' } as const satisfies KeySpan
/** Where the time ends and the id starts in a key. */
const TIME_END = 10
const ID_OFFSET = 16

/** A new entry for `engagement`, tracked at `time` as this tab's `sequence`th call; held while it has no contact. */
export function createEntry(engagement: DraftEngagement, signature: string | undefined, time: number, sequence: number): OutboxEntry {
  const place = time.toString(36).padStart(9, '0') + sequence.toString(36).padStart(6, '0') + engagement.id
  return entryAt((engagement.contactEmail ? SENDABLE : HELD).from + place, engagement, signature)
}

function entryAt(key: string, engagement: DraftEngagement, signature: string | undefined): OutboxEntry {
  const entry: OutboxEntry = { key, engagement, bytes: carriedBytes(engagement, signature) }
  if (signature && engagement.contactEmail) entry.signature = signature
  return entry
}

/** When the entry was tracked, in epoch ms. */
export const trackedAt = (entry: OutboxEntry): number => parseInt(entry.key.slice(1, TIME_END), 36)

/** Whether the entry waits for a contact (and may not be sent yet). */
export const isHeld = (entry: OutboxEntry): boolean => entry.key[0] === HELD.from

const idOf = (key: string) => key.slice(ID_OFFSET)

/** Entries kept in memory for the page-hide path: more than one beacon quota can carry. */
const MIRROR_LIMIT = 1_000
/**
 * Entries per write transaction. Transactions on one store run in the order they were created, so
 * the sender's read of the next batch waits for every write created before it: a burst written
 * in one go would hold the first batch back until all of it is stored (a second for 20,000).
 * Writes are therefore created one at a time, each once the one before has committed, and each
 * carries at most this many entries. It also bounds the main thread's share: each put costs tens
 * of microseconds (the value is cloned), and 10,000 in one task would block the page.
 */
const WRITE_SLICE = 400
/**
 * How long an exact count of the outbox is trusted, in ms. Counting walks the whole range (ms at
 * 100,000 entries), so appends in between add what they wrote instead; other tabs append too,
 * which is why the count is taken again after this.
 */
const COUNT_TTL_MS = 1_000

/** What {@link createOutbox} needs. */
export interface OutboxOptions {
  /** Where entries live, shared with the settings. */
  store: FallbackStore
  maxQueueSize: number
  maxHeld: number
  /** Current time in epoch ms. */
  now: () => number
  /** Told which engagements a cap pushed out. */
  onDrop: (ids: string[], reason: DropReason) => void
}

/** The durable FIFO of engagements, with a synchronous mirror of its head for the page-hide path. */
export interface Outbox {
  /** Where entries live now. */
  readonly storage: 'indexeddb' | 'memory'
  /**
   * Adds entries. Appends made while no write is running (every append of one tick, at least)
   * are stored together, in transactions of at most a few hundred entries; the caps drop the
   * oldest beyond them. Resolves once the entries are stored.
   */
  append(entries: OutboxEntry[]): Promise<void>
  /** Resolves when every append made so far is stored. */
  written(): Promise<void>
  /** Up to `limit` sendable entries after `after` (or from the oldest), oldest first. */
  head(after: OutboxEntry | undefined, limit: number): Promise<OutboxEntry[]>
  /** Removes entries delivered or given up. */
  remove(entries: readonly OutboxEntry[]): Promise<void>
  /** Notes that a beacon carried `entries` at `at`, so they are not sent again at once. */
  markBeaconed(entries: readonly OutboxEntry[], at: number): Promise<void>
  /** Makes every held entry sendable, in order, with `contact`; returns them as they are now. */
  release(contact: Contact): Promise<OutboxEntry[]>
  /** Deletes every entry and returns their ids. */
  clear(): Promise<string[]>
  /**
   * Another tab cleared the outbox: forgets what this page remembers of it, and deletes what that
   * clear could not reach: `late`, entries this page stores after it, and memory storage, which
   * is this page's own. Returns the ids deleted.
   */
  clearedElsewhere(late: readonly OutboxEntry[]): Promise<string[]>
  /** Another tab removed the entries of these keys (from memory storage too: it is this page's own). */
  removedElsewhere(keys: readonly string[]): void
  /** How many entries wait, held ones included, and how many are held. */
  count(): Promise<{ queued: number; held: number }>
  /** Remembers entries another tab stored, for the page-hide path. */
  keep(entries: readonly OutboxEntry[]): void
  /** Sendable entries this page knows to be in the outbox, oldest first, synchronously: what a beacon can still carry. */
  unsent(): OutboxEntry[]
}

export function createOutbox(options: OutboxOptions): Outbox {
  const { store } = options
  const run = store.run
  const mirror = new Map<string, OutboxEntry>()
  let pending: OutboxEntry[] = []
  /** The write that will take what `append` collects until it starts, if one is scheduled. */
  let pendingWrite: Promise<void> | undefined
  /** The latest write scheduled: writes run one after another, so it is the last to complete. */
  let lastWrite: Promise<void> = Promise.resolve()

  /**
   * Sendable (`s`) and held (`h`) entries at the last exact count, plus what this tab appended
   * since. Removals are not subtracted: the estimate only errs high, and high is checked by
   * counting before anything is dropped.
   */
  let sizes = { s: 0, h: 0 }
  let countedAt = -Infinity

  /**
   * Resolves once every write scheduled so far is done, however it ended. A transaction that must
   * come after them (a release, a clear) waits for this: being created after a write is not
   * enough, as the later slices of a burst are created only once the earlier ones commit.
   */
  const everyWriteScheduled = () => lastWrite.catch(() => undefined)

  const remember = (entry: OutboxEntry) => {
    if (mirror.size < MIRROR_LIMIT) mirror.set(entry.key, entry)
  }
  const forget = (key: string) => mirror.delete(key)

  /** Drops the oldest entries beyond the caps, in the transaction that just appended `entries`. */
  const enforceCaps = async (tx: StoreTransaction, entries: readonly OutboxEntry[]) => {
    const caps = [
      [SENDABLE, options.maxQueueSize, 'queue-full'],
      [HELD, options.maxHeld, 'held-full'],
    ] as const
    for (const entry of entries) sizes[entry.key[0] as 's' | 'h']++
    const now = options.now()
    if (now - countedAt >= COUNT_TTL_MS || caps.some(([span, cap]) => sizes[span.from] > cap)) {
      sizes = { s: await tx.count(SENDABLE), h: await tx.count(HELD) }
      countedAt = now
    }
    const out: [string[], DropReason][] = []
    for (const [span, cap, reason] of caps) {
      const excess = sizes[span.from] - cap
      if (excess > 0) {
        const keys = await tx.getAllKeys(span, excess)
        keys.forEach((key) => tx.delete(key))
        sizes[span.from] -= keys.length
        out.push([keys, reason])
      }
    }
    return out
  }

  const writePending = async () => {
    const entries = pending
    pending = []
    pendingWrite = undefined
    for (let start = 0; start < entries.length; start += WRITE_SLICE) {
      const slice = entries.slice(start, start + WRITE_SLICE)
      const dropped = await run('readwrite', async (tx) => {
        slice.forEach((entry) => tx.put(entry.key, entry))
        return enforceCaps(tx, slice)
      })
      for (const [keys, reason] of dropped) {
        keys.forEach(forget)
        options.onDrop(keys.map(idOf), reason)
      }
    }
  }

  const clear = async (): Promise<string[]> => {
    mirror.clear()
    countedAt = -Infinity
    // Every write scheduled first, or what it stores would outlive the clear.
    await everyWriteScheduled()
    return run('readwrite', async (tx) => {
      const keys = [...(await tx.getAllKeys(HELD)), ...(await tx.getAllKeys(SENDABLE))]
      keys.forEach((key) => tx.delete(key))
      return keys.map(idOf)
    })
  }

  const deleteKeys = (keys: readonly string[]) => run('readwrite', async (tx) => keys.forEach((key) => tx.delete(key)))

  return {
    get storage() {
      return store.storage
    },
    append(entries) {
      entries.forEach(remember)
      pending.push(...entries)
      // After the write before it, whichever way that ended (see WRITE_SLICE).
      return (pendingWrite ??= lastWrite = lastWrite.then(writePending, writePending))
    },
    written: () => lastWrite,
    async head(after, limit) {
      // `key + '\0'` is the first key above `key`.
      const entries = await run('readonly', (tx) =>
        tx.getAll<OutboxEntry>(after ? { ...SENDABLE, from: `${after.key}\0` } : SENDABLE, limit),
      )
      entries.forEach(remember)
      return entries
    },
    async remove(entries) {
      const keys = entries.map((entry) => entry.key)
      keys.forEach(forget)
      await deleteKeys(keys)
    },
    async markBeaconed(entries, at) {
      for (const entry of entries) entry.beaconAt = at
      await run('readwrite', async (tx) => entries.forEach((entry) => tx.put(entry.key, entry)))
    },
    async release(contact) {
      // Every write scheduled first, or what it holds would stay held.
      await everyWriteScheduled()
      return run('readwrite', async (tx) => {
        const released = (await tx.getAll<OutboxEntry>(HELD)).map((held) => {
          // The same place in the order, now sendable.
          const entry = entryAt(SENDABLE.from + held.key.slice(1), { ...held.engagement, contactEmail: contact.email }, contact.signature)
          tx.delete(held.key)
          tx.put(entry.key, entry)
          forget(held.key)
          remember(entry)
          return entry
        })
        sizes.s += released.length
        return released
      })
    },
    clear,
    async clearedElsewhere(late) {
      if (store.storage === 'memory') return clear()
      mirror.clear()
      await everyWriteScheduled()
      await deleteKeys(late.map((entry) => entry.key))
      return late.map((entry) => entry.engagement.id)
    },
    removedElsewhere(keys) {
      keys.forEach(forget)
      if (store.storage === 'memory') void deleteKeys(keys)
    },
    count: () =>
      run('readonly', async (tx) => {
        const held = await tx.count(HELD)
        return { queued: held + (await tx.count(SENDABLE)), held }
      }),
    keep: (entries) => entries.forEach(remember),
    unsent: () => [...mirror.values()].filter((entry) => !isHeld(entry)).sort((a, b) => (a.key < b.key ? -1 : 1)),
  }
}
