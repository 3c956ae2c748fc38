/**
 * The memory of delivered engagements over a Durable Object's SQLite storage, so that it survives
 * the object's restarts (deploys, evictions, crashes), with the in-process memory as a cache.
 *
 * Storage layout: one FTS5 table, `delivered_batches`, one row per acknowledged upstream batch.
 * - `rowid` encodes the acknowledgement time: `max(previous + 1, at * 1000)`. So rows are in time
 *   order, `rowid / 1000` is never earlier than the time (expiry needs no other column), and
 *   expiry deletes a range of rowids.
 * - `tokens`: per engagement, its id's fingerprint (16 hex digits) and its whole digest (32): the
 *   first finds "this id was delivered", the second "with this very content". The full-text index
 *   finds a token among all batches without a row per engagement: one row written per batch.
 * - contentless (`content=''`, tokens indexed, not stored twice), `contentless_delete` so expiry
 *   can delete, `detail=none` (no positions).
 *
 * Objects that ran an earlier version kept ids (not digests) in `acknowledged_batches`; they are
 * still found there, as "this id, any content", until that table has expired and is dropped.
 */
import type { DeliveryMemory, MemoryKey, Recall } from '../../core/coalescer/index.js'
import { toHex } from '../../core/hex.js'
import { ANY_CONTENT, createMemory } from '../../core/memory.js'

/** A value as Durable Object SQL returns it. */
export type SqlValue = ArrayBuffer | string | number | null

/** The part of a Durable Object's `ctx.storage.sql` this memory uses. */
export interface SqlStorageLike {
  exec(query: string, ...bindings: (string | number)[]): { toArray(): Record<string, SqlValue>[] }
}

/** Options of {@link createSqlMemory}. */
export interface SqlMemoryOptions {
  /** The object's SQL storage (`ctx.storage.sql`). */
  sql: SqlStorageLike
  /** Current time in epoch ms: rows expire by this clock. */
  now: () => number
  /** Asks for {@link SqlMemory.cleanUp} to run at `at` (epoch ms): the object's alarm. */
  schedule: (at: number) => void
  /** How long an engagement is remembered, in ms. Default `86_400_000` (24 hours). */
  retentionMs?: number
  /** Engagements the in-process cache holds. Default `500_000` (about 20 MB of the object's memory). */
  cacheCapacity?: number
}

/** A {@link DeliveryMemory} kept in storage, with the clean-up its alarm runs. */
export interface SqlMemory extends DeliveryMemory {
  /** Deletes expired batches, at most 1,000 per call, and says when to run again (epoch ms), or `undefined` when nothing is stored. */
  cleanUp(): number | undefined
}

const TABLE = 'delivered_batches'
const LEGACY_TABLE = 'acknowledged_batches'
/** Rowids per millisecond: `at * 1000` leaves room for 1,000 batches in one millisecond. */
const ROWIDS_PER_MS = 1_000
/** Batches deleted per clean-up: each takes about 20 µs. */
const CLEAN_UP_CHUNK = 1_000
/** Expired rows are invisible to lookups (they check the time): one alarm a minute at most. */
const CLEAN_UP_INTERVAL_MS = 60_000
/** The pause between clean-ups while more than one chunk is expired. */
const CLEAN_UP_PAUSE_MS = 1_000
const DEFAULT_CACHE_CAPACITY = 500_000

/** How an earlier version spelled an id as one lowercase token (the tokenizer folds case). */
export function legacyTokenOf(id: string): string {
  if (/^[\w.:-]+$/.test(id)) return id.replace(/[A-Z]/g, (letter) => `^${letter.toLowerCase()}`)
  return `^^${toHex(new TextEncoder().encode(id))}`
}

const numberOf = (value: SqlValue | undefined): number | undefined => (typeof value === 'number' ? value : undefined)

/**
 * Creates the memory of delivered engagements of a Durable Object.
 *
 * - `acknowledge` writes ONE row per batch, synchronously (Durable Object SQL is local), so the
 *   object's output gate holds the answer to the client until the row is durable.
 * - `recall` asks the cache first, then storage, in ONE query for what the cache does not know,
 *   and only while storage may hold what the cache does not: rows stored before this instance
 *   started, or forgotten by the cache for room.
 */
export function createSqlMemory(options: SqlMemoryOptions): SqlMemory {
  const { sql, now, schedule } = options
  const retentionMs = options.retentionMs ?? 86_400_000
  const cache = createMemory({ retentionMs, capacity: options.cacheCapacity ?? DEFAULT_CACHE_CAPACITY })

  sql.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS ${TABLE} USING fts5(tokens, content='', contentless_delete=1, detail=none)`)
  const newestOf = (table: string) => numberOf(sql.exec(`SELECT max(rowid) AS newest FROM ${table}`).toArray()[0]?.newest)
  const newest = newestOf(TABLE)
  const legacy = sql.exec(`SELECT name FROM sqlite_master WHERE name = ?`, LEGACY_TABLE).toArray().length > 0
  /** Until when the earlier version's rows may matter. */
  let legacyUntil = legacy ? (newestOf(LEGACY_TABLE) ?? 0) / ROWIDS_PER_MS + retentionMs : -Infinity
  let lastRowid = newest ?? 0
  /** Until when storage may hold an unexpired engagement the cache does not. */
  let uncachedUntil = Math.max(legacyUntil, newest === undefined ? -Infinity : newest / ROWIDS_PER_MS + retentionMs)
  /** Whether an alarm is due; set again only by a clean-up that found nothing left. */
  let scheduled = false

  // An earlier instance may have stored batches and died before its alarm was set.
  if (newest !== undefined || legacy) {
    scheduled = true
    schedule(now())
  }

  /** What storage says of keys the cache calls new: one query for all of them. */
  const lookUp = (keys: readonly MemoryKey[]): Recall[] => {
    const horizon = (now() - retentionMs) * ROWIDS_PER_MS
    const match = (table: string, token: string) => `(SELECT max(rowid) FROM ${table} WHERE ${table} MATCH '"' || ${token} || '"')`
    const legacyColumn = now() < legacyUntil ? `, ${match(LEGACY_TABLE, "json_extract(value, '$[2]')")} AS anyContent` : ''
    const rows = sql
      .exec(
        `SELECT key, ${match(TABLE, "json_extract(value, '$[0]')")} AS byId, ${match(TABLE, "json_extract(value, '$[1]')")} AS byContent${legacyColumn} FROM json_each(?)`,
        JSON.stringify(keys.map((key) => [key.digest.slice(0, 16), key.digest, legacyTokenOf(key.id)])),
      )
      .toArray()
    const verdicts: Recall[] = keys.map(() => 'new')
    const found: [string, number][] = []
    for (const row of rows) {
      const index = numberOf(row.key) ?? -1
      const key = keys[index] as MemoryKey
      const live = (column: string) => {
        const rowid = numberOf(row[column]) ?? -Infinity
        return rowid > horizon ? Math.floor(rowid / ROWIDS_PER_MS) : undefined
      }
      const byContent = live('byContent')
      const anyContent = live('anyContent')
      if (byContent !== undefined) found.push([key.digest, byContent])
      else if (anyContent !== undefined) found.push([key.digest.slice(0, 16) + ANY_CONTENT, anyContent])
      if (byContent !== undefined || anyContent !== undefined) verdicts[index] = 'known'
      else if (live('byId') !== undefined) verdicts[index] = 'conflict'
    }
    // Found in storage, they are cached again: their next re-send is answered from memory.
    cache.restore(found)
    return verdicts
  }

  return {
    recall(keys, at) {
      const verdicts = cache.recall(keys, at)
      if (now() >= uncachedUntil) return verdicts
      const unknown = keys.filter((_, index) => verdicts[index] === 'new')
      if (unknown.length === 0) return verdicts
      const stored = lookUp(unknown)
      let next = 0
      return verdicts.map((verdict) => (verdict === 'new' ? (stored[next++] as Recall) : verdict))
    },
    acknowledge(keys, at) {
      // Memory first: if the write fails, the engagements are still remembered until the cache forgets them.
      cache.acknowledge(keys, at)
      if (cache.size() >= cache.capacity) uncachedUntil = Math.max(uncachedUntil, now() + retentionMs)
      const rowid = Math.max(lastRowid + 1, Math.floor(at) * ROWIDS_PER_MS)
      const tokens = keys.map((key) => `${key.digest.slice(0, 16)} ${key.digest}`).join(' ')
      sql.exec(`INSERT INTO ${TABLE}(rowid, tokens) VALUES (?, ?)`, rowid, tokens)
      lastRowid = rowid
      if (!scheduled) {
        scheduled = true
        schedule(Math.floor(at) + retentionMs)
      }
    },
    release() {
      // One object is the only sender of its key: nothing is claimed.
    },
    size: () => cache.size(),
    cleanUp() {
      const at = now()
      if (legacyUntil !== -Infinity && at >= legacyUntil) {
        sql.exec(`DROP TABLE IF EXISTS ${LEGACY_TABLE}`)
        legacyUntil = -Infinity
      }
      const horizon = (at - retentionMs) * ROWIDS_PER_MS
      sql.exec(
        `DELETE FROM ${TABLE} WHERE rowid IN (SELECT rowid FROM ${TABLE} WHERE rowid < ? ORDER BY rowid LIMIT ?)`,
        horizon,
        CLEAN_UP_CHUNK,
      )
      const oldest = numberOf(sql.exec(`SELECT rowid FROM ${TABLE} ORDER BY rowid LIMIT 1`).toArray()[0]?.rowid)
      if (oldest === undefined) {
        if (legacyUntil !== -Infinity) return Math.max(at + CLEAN_UP_INTERVAL_MS, Math.ceil(legacyUntil))
        scheduled = false
        return undefined
      }
      if (oldest < horizon) return at + CLEAN_UP_PAUSE_MS
      return Math.max(at + CLEAN_UP_INTERVAL_MS, Math.ceil(oldest / ROWIDS_PER_MS) + retentionMs)
    },
  }
}
