import type { DraftEngagement } from '../contract.js'
import { memoryStore, type KeySpan, type Store, type StoreTransaction } from './store.js'
import type { DropReason } from './types.js'

/** One queued engagement and what the sender needs to know of it. */
export interface OutboxEntry {
  /** See {@link entryKey}. */
  key: string
  engagement: DraftEngagement
  /** Identity signature for the engagement's contact, if the page gave one. */
  signature?: string
  /** Bytes of the engagement as JSON, its signature included: what it adds to a request. */
  bytes: number
  /** When a beacon carried it; a beacon brings no answer, so it stays until one does. */
  beaconAt?: number
}

const SENDABLE = { from: 's', to: 't' } as const satisfies KeySpan
const HELD = { from: 'h', to: 'i' } as const satisfies KeySpan
/** Where the id starts in a key. */
const ID_OFFSET = 16
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

/**
 * The key of an entry, whose string order is the outbox's order: `s` (sendable) or `h` (held
 * until a contact is known), the time it was tracked and this tab's call counter in fixed-width
 * base 36, then the engagement id, which keeps tabs that track in the same millisecond apart.
 */
export function entryKey(held: boolean, time: number, sequence: number, id: string): string {
  return (held ? 'h' : 's') + time.toString(36).padStart(9, '0') + sequence.toString(36).padStart(6, '0') + id
}

/** When the entry was tracked, in epoch ms. */
export const trackedAt = (key: string): number => parseInt(key.slice(1, 10), 36)

/** The key a held entry takes once its contact is known. */
export const releasedKey = (key: string): string => `s${key.slice(1)}`

/** What {@link createOutbox} needs. */
export interface OutboxOptions {
  /** The durable store, or undefined where IndexedDB is missing. */
  durable: Store | undefined
  maxQueueSize: number
  maxHeld: number
  /** Current time in epoch ms. */
  now: () => number
  /** Told which engagements a cap pushed out. */
  onDrop: (ids: string[], reason: DropReason) => void
  /** Told once when the durable store failed and memory took over. */
  onFallback: (error: unknown) => void
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
  /** Up to `limit` sendable entries after the key `after` (or from the oldest), oldest first. */
  head(after: string, limit: number): Promise<OutboxEntry[]>
  /** Removes settled entries. */
  remove(entries: readonly OutboxEntry[]): Promise<void>
  /** Stores changed entries (beacon marks). */
  update(entries: readonly OutboxEntry[]): Promise<void>
  /** Makes every held entry sendable, in order, as `stamp` rewrites it (with its contact and released key). */
  release(stamp: (entry: OutboxEntry) => OutboxEntry): Promise<OutboxEntry[]>
  /** Deletes every entry and returns their ids. */
  clear(): Promise<string[]>
  /**
   * Another tab cleared the outbox: forgets what this page remembers of it, and deletes what that
   * clear could not reach: `late`, entries this page stores after it, and memory storage, which
   * is this page's own. Returns the ids deleted.
   */
  clearedElsewhere(late: readonly OutboxEntry[]): Promise<string[]>
  /** How many entries wait, held ones included, and how many are held. */
  count(): Promise<{ queued: number; held: number }>
  readMeta<T>(name: string): Promise<T | undefined>
  writeMeta(name: string, value: unknown): Promise<void>
  /** Remembers entries another tab stored, for the page-hide path. */
  keep(entries: readonly OutboxEntry[]): void
  /** Entries this page knows to be unsettled, oldest first, synchronously: what a beacon can still carry. */
  recent(): OutboxEntry[]
  /** Forgets entries another tab settled (and deletes them from memory storage). */
  settled(keys: readonly string[]): void
}

export function createOutbox(options: OutboxOptions): Outbox {
  let store = options.durable ?? memoryStore()
  let storage: Outbox['storage'] = options.durable ? 'indexeddb' : 'memory'
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

  /** Runs in the durable store; on its first failure, switches to memory for good and runs there. */
  const run: Store = async (mode, work) => {
    const used = store
    try {
      return await used(mode, work)
    } catch (error) {
      if (storage === 'memory' && store === used) throw error
      // Another transaction may have switched already.
      if (store === used) {
        storage = 'memory'
        store = memoryStore()
        countedAt = -Infinity
        options.onFallback(error)
      }
      return store(mode, work)
    }
  }

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
        options.onDrop(
          keys.map((key) => key.slice(ID_OFFSET)),
          reason,
        )
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
      return keys.map((key) => key.slice(ID_OFFSET))
    })
  }

  return {
    get storage() {
      return storage
    },
    append(entries) {
      entries.forEach(remember)
      pending.push(...entries)
      // After the write before it, whichever way that ended (see WRITE_SLICE).
      return (pendingWrite ??= lastWrite = lastWrite.then(writePending, writePending))
    },
    written: () => lastWrite,
    async head(after, limit) {
      // `after + '\0'` is the first key above `after`.
      const entries = await run('readonly', (tx) => tx.getAll<OutboxEntry>({ ...SENDABLE, from: after ? `${after}\0` : 's' }, limit))
      entries.forEach(remember)
      return entries
    },
    async remove(entries) {
      entries.forEach((entry) => forget(entry.key))
      await run('readwrite', async (tx) => entries.forEach((entry) => tx.delete(entry.key)))
    },
    async update(entries) {
      await run('readwrite', async (tx) => entries.forEach((entry) => tx.put(entry.key, entry)))
    },
    release: async (stamp) => {
      // Every write scheduled first, or what it holds would stay held.
      await everyWriteScheduled()
      return run('readwrite', async (tx) => {
        const released = (await tx.getAll<OutboxEntry>(HELD)).map((held) => {
          const entry = stamp(held)
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
      if (storage === 'memory') return clear()
      mirror.clear()
      await everyWriteScheduled()
      await run('readwrite', async (tx) => late.forEach((entry) => tx.delete(entry.key)))
      return late.map((entry) => entry.engagement.id)
    },
    count: () =>
      run('readonly', async (tx) => {
        const held = await tx.count(HELD)
        return { queued: held + (await tx.count(SENDABLE)), held }
      }),
    readMeta: (name) => run('readonly', (tx) => tx.get(`m${name}`)),
    writeMeta: (name, value) =>
      run('readwrite', async (tx) => (value === undefined ? tx.delete(`m${name}`) : tx.put(`m${name}`, value))),
    keep: (entries) => entries.forEach(remember),
    recent: () => [...mirror.values()].sort((a, b) => (a.key < b.key ? -1 : 1)),
    settled(keys) {
      keys.forEach(forget)
      if (storage === 'memory') void run('readwrite', async (tx) => keys.forEach((key) => tx.delete(key)))
    },
  }
}
