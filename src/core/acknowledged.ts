/**
 * The memory of engagement ids that Conversion acknowledged: what lets the Coalescer answer a
 * browser's re-send as a duplicate instead of forwarding the same id twice (whether upstream
 * de-duplicates by `id` is not documented, so we assume it does not).
 */

/**
 * Ids acknowledged upstream recently. Both methods may answer synchronously (memory) or with a
 * promise (storage), so a Durable Object can keep them in its transactional storage.
 *
 * The calls are shaped for cheap storage: `add` receives one acknowledged upstream batch at a
 * time (up to 200 ids sharing one time), so it can be written as one record keyed by its time
 * and expired as a whole; `has` receives every new id of one client request at once, so it costs
 * one storage round trip per request.
 */
export interface AcknowledgedIds {
  /** Which of `ids` were acknowledged within the retention period. */
  has(ids: readonly string[]): ReadonlySet<string> | Promise<ReadonlySet<string>>
  /** Remembers `ids` as acknowledged upstream at `at` (epoch ms). */
  add(ids: readonly string[], at: number): void | Promise<void>
  /** How many ids are remembered; an estimate is fine for a storage-backed memory. */
  size(): number
}

/** Options of {@link createAcknowledgedIds}. */
export interface AcknowledgedIdsOptions {
  /** Current time in epoch ms: ids expire by this clock. */
  now: () => number
  /** How long an id is remembered, in ms. Default `86_400_000` (24 hours). */
  retentionMs?: number
  /**
   * Most ids remembered; beyond it the oldest are forgotten first, even inside the retention
   * period. Default `250_000`: about 50 MB of heap with 36-character ids (about 200 bytes
   * each), enough for 24 hours at an average of 2.9 engagements per second, or 2 minutes at the
   * full 2,000 per second. A browser re-sends within minutes (it only re-sends what got no
   * answer), so what is forgotten early is very unlikely to come back.
   */
  capacity?: number
}

const DAY_MS = 86_400_000
const DEFAULT_CAPACITY = 250_000

/** An in-memory {@link AcknowledgedIds} that can also list what it remembers. */
export interface MemoryAcknowledgedIds extends AcknowledgedIds {
  has(ids: readonly string[]): ReadonlySet<string>
  add(ids: readonly string[], at: number): void
  /** The ids remembered, with their acknowledgement time, oldest first. */
  entries(): IterableIterator<[id: string, at: number]>
  /** How long an id is remembered, in ms, defaults applied. */
  readonly retentionMs: number
  /** Most ids remembered, defaults applied. */
  readonly capacity: number
}

/** An in-memory {@link AcknowledgedIds}: bounded, oldest first out, expiring by the given clock. */
export function createAcknowledgedIds(options: AcknowledgedIdsOptions): MemoryAcknowledgedIds {
  const { now } = options
  const retentionMs = positive(options.retentionMs, DAY_MS)
  const capacity = Math.floor(positive(options.capacity, DEFAULT_CAPACITY))
  // Id -> acknowledgement time. A Map iterates in insertion order, so its first entries are the
  // oldest: expiry and eviction both take from the front, without sorting or a second index.
  const acknowledgedAt = new Map<string, number>()

  const forgetExpired = (): void => {
    const horizon = now() - retentionMs
    for (const [id, at] of acknowledgedAt) {
      if (at > horizon) break
      acknowledgedAt.delete(id)
    }
  }

  const evictBeyondCapacity = (): void => {
    for (const id of acknowledgedAt.keys()) {
      if (acknowledgedAt.size <= capacity) break
      acknowledgedAt.delete(id)
    }
  }

  return {
    has(ids) {
      forgetExpired()
      const horizon = now() - retentionMs
      const known = new Set<string>()
      for (const id of ids) {
        // Times may arrive slightly out of order, so an entry behind a fresher one is checked too.
        const at = acknowledgedAt.get(id)
        if (at !== undefined && at > horizon) known.add(id)
      }
      return known
    },
    add(ids, at) {
      for (const id of ids) {
        // Re-inserting moves the id to the back, where its new time belongs.
        acknowledgedAt.delete(id)
        acknowledgedAt.set(id, at)
      }
      forgetExpired()
      evictBeyondCapacity()
    },
    size: () => acknowledgedAt.size,
    retentionMs,
    capacity,
    entries() {
      forgetExpired()
      return acknowledgedAt.entries()
    },
  }
}

function positive(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && value > 0 ? value : fallback
}
