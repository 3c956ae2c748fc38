import { isHeld, type OutboxEntry } from './entry.js'

/** Entries kept in memory for the page-hide path: more than one beacon quota can carry. */
const MIRROR_LIMIT = 1_000

/**
 * The outbox's synchronous copy of its head, for the page-hide path (a beacon cannot wait for
 * IndexedDB). It hears of removals from this tab and from the others' messages; as a message
 * can be missed (a page in the back/forward cache hears none), reads of the outbox also tell it
 * what is gone.
 */
export interface Mirror {
  /** Keeps a sendable entry (a held one cannot be sent on page hide). */
  remember(entry: OutboxEntry): void
  forget(key: string): void
  clear(): void
  /** The keys it holds that the outbox holds too, unless gone since: all but those of `unsaved`, not stored yet. */
  stored(unsaved: readonly OutboxEntry[]): string[]
  /**
   * A read from the oldest sendable entry on, of at most `limit`, returned `rows`, and was bound
   * to find the keys `stored` gave as it began, up to its last row (to the end when it returned
   * fewer than `limit`): those it did not find are gone, removed by a tab this page did not hear.
   */
  missed(stored: readonly string[], rows: readonly OutboxEntry[], limit: number): void
  /** The entries it holds, oldest first. */
  entries(): OutboxEntry[]
}

export function createMirror(): Mirror {
  const held = new Map<string, OutboxEntry>()
  return {
    remember: (entry) => void (!isHeld(entry) && held.size < MIRROR_LIMIT && held.set(entry.key, entry)),
    forget: (key) => void held.delete(key),
    clear: () => held.clear(),
    stored(unsaved) {
      const writing = new Set(unsaved.map((entry) => entry.key))
      return [...held.keys()].filter((key) => !writing.has(key))
    },
    missed(stored, rows, limit) {
      const found = new Set(rows.map((entry) => entry.key))
      const last = rows.length < limit ? undefined : rows[rows.length - 1]!.key
      for (const key of stored) if (!found.has(key) && (last === undefined || key < last)) held.delete(key)
    },
    entries: () => [...held.values()].sort((a, b) => (a.key < b.key ? -1 : 1)),
  }
}
