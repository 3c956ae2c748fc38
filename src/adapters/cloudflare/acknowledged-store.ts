/**
 * The memory of acknowledged ids over a Durable Object's SQLite storage, so that it survives the
 * object's restarts (deploys, evictions, crashes) with the in-memory memory as a cache in front.
 *
 * Storage layout: one FTS5 table, `acknowledged_batches`, one row per acknowledged upstream batch.
 * - `rowid` encodes the acknowledgement time: `max(previous + 1, at * 1000)`. So rows are in time
 *   order, `rowid / 1000` is never earlier than the time (expiry and the 24-hour check need no
 *   other column), and expiry deletes a range of rowids.
 * - `ids`: the batch's ids, one token each, separated by spaces. The full-text index is what
 *   finds an id among all batches without a row per id: per batch, one row written instead of
 *   200, and about 40 bytes per id stored, so 24 hours at Conversion's full 2,000 engagements per
 *   second (about 7 GB with UUIDs) stay inside a Durable Object's 10 GB.
 * - contentless (`content=''`): the ids are indexed, not stored a second time; `contentless_delete`
 *   lets expiry delete rows; `detail=none`: no positions, only "which rows hold this token".
 *
 * The tokenizer folds case, and ids are case-sensitive, so ids are indexed under an injective,
 * lowercase-only spelling (see {@link tokenOf}): a match is always the exact id.
 */
import { createAcknowledgedIds, type AcknowledgedIds } from '../../core/acknowledged.js'
import { toHex } from '../../core/hex.js'

/** A value as Durable Object SQL returns it. */
export type SqlValue = ArrayBuffer | string | number | null

/** The part of a Durable Object's `ctx.storage.sql` this memory uses. */
export interface SqlStorageLike {
  exec(query: string, ...bindings: (string | number)[]): { toArray(): Record<string, SqlValue>[] }
}

/** Options of {@link createStoredAcknowledgedIds}. */
export interface StoredAcknowledgedIdsOptions {
  /** The object's SQL storage (`ctx.storage.sql`). */
  sql: SqlStorageLike
  /** Current time in epoch ms: ids expire by this clock. */
  now: () => number
  /**
   * Asks for {@link StoredAcknowledgedIds.cleanUp} to run at `at` (epoch ms): the object's alarm.
   * Called when the first batch is stored after a clean-up found nothing left to wait for.
   */
  schedule: (at: number) => void
  /** How long an id is remembered, in ms. Default `86_400_000` (24 hours). */
  retentionMs?: number
  /** Ids the in-memory cache holds. Default `250_000` (see `createAcknowledgedIds`). */
  cacheCapacity?: number
}

/** An {@link AcknowledgedIds} kept in storage, with the clean-up its alarm runs. */
export interface StoredAcknowledgedIds extends AcknowledgedIds {
  /**
   * Deletes expired batches, at most 1,000 per call (about 20 ms of the object's time), and says
   * when to run again (epoch ms), or `undefined` when nothing is stored.
   */
  cleanUp(): number | undefined
}

const TABLE = 'acknowledged_batches'
/** Rowids per millisecond: `at * 1000` leaves room for 1,000 batches in one millisecond. */
const ROWIDS_PER_MS = 1_000
/** Batches deleted per clean-up: each takes about 20 µs. */
const CLEAN_UP_CHUNK = 1_000
/**
 * Expired rows are invisible to `has()` (it checks the time), so they may wait for the next
 * clean-up: one alarm a minute at most, not one per expiring batch (10 a second at full rate).
 */
const CLEAN_UP_INTERVAL_MS = 60_000
/** The pause between clean-ups while more than one chunk is expired. */
const CLEAN_UP_PAUSE_MS = 1_000

/**
 * How an id is spelled in the index: one token, lowercase, never containing a space or a quote,
 * and different for different ids. Ids of the contract (`[A-Za-z0-9_.:-]`) keep their lowercase
 * characters and write an uppercase letter as `^` and the letter; any other id is `^^` and the hex
 * of its UTF-8 bytes (the first form never holds `^^`).
 */
export function tokenOf(id: string): string {
  if (/^[\w.:-]+$/.test(id)) return id.replace(/[A-Z]/g, (letter) => `^${letter.toLowerCase()}`)
  return `^^${toHex(new TextEncoder().encode(id))}`
}

/**
 * Creates the memory of acknowledged ids of a Durable Object.
 *
 * - `add` writes ONE row per acknowledged batch, synchronously (Durable Object SQL is local), so
 *   the object's output gate holds the answer to the client until the row is durable.
 * - `has` asks the cache first, then storage, in ONE query for the ids the cache does not know,
 *   and only while storage may hold ids the cache does not: those stored before this instance
 *   started, or forgotten by the cache for room (it holds the newest `cacheCapacity`).
 *
 * @example
 * const acknowledged = createStoredAcknowledgedIds({
 *   sql: ctx.storage.sql,
 *   now: Date.now,
 *   schedule: (at) => void ctx.storage.setAlarm(at),
 * })
 */
export function createStoredAcknowledgedIds(options: StoredAcknowledgedIdsOptions): StoredAcknowledgedIds {
  const { sql, now, schedule } = options
  const cache = createAcknowledgedIds({
    now,
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.cacheCapacity === undefined ? {} : { capacity: options.cacheCapacity }),
  })
  // The cache applies the defaults; storage keeps ids exactly as long.
  const { retentionMs, capacity: cacheCapacity } = cache

  sql.exec(
    `CREATE VIRTUAL TABLE IF NOT EXISTS ${TABLE} USING fts5(ids, content='', contentless_delete=1, detail=none, tokenize="unicode61 tokenchars '-_.:^'")`,
  )
  const newest = numberOf(sql.exec(`SELECT rowid FROM ${TABLE} ORDER BY rowid DESC LIMIT 1`).toArray()[0]?.['rowid'])
  let lastRowid = newest ?? 0
  /**
   * Until when storage may hold an unexpired id that the cache does not: every batch stored by an
   * earlier instance, and, once the cache is full, whatever it forgets for room.
   */
  let uncachedUntil = newest === undefined ? -Infinity : newest / ROWIDS_PER_MS + retentionMs
  /** Whether an alarm is due; set again only by a clean-up that found nothing left. */
  let scheduled = false

  // An earlier instance may have stored batches and died before its alarm was set.
  if (newest !== undefined) {
    scheduled = true
    schedule(now())
  }

  /** The cache may have forgotten unexpired ids for room: ask storage about them from now on. */
  const noteCacheFull = (): void => {
    if (cache.size() >= cacheCapacity) uncachedUntil = Math.max(uncachedUntil, now() + retentionMs)
  }

  const lookUp = (ids: readonly string[]): Map<string, number> => {
    // One bound parameter however many ids: Durable Object SQL takes at most 100.
    const rows = sql
      .exec(
        `SELECT key, (SELECT max(rowid) FROM ${TABLE} WHERE ${TABLE} MATCH '"' || value || '"') AS newest FROM json_each(?)`,
        JSON.stringify(ids.map(tokenOf)),
      )
      .toArray()
    const horizon = (now() - retentionMs) * ROWIDS_PER_MS
    const found = new Map<string, number>()
    for (const row of rows) {
      const rowid = numberOf(row['newest'])
      const id = ids[numberOf(row['key']) ?? -1]
      if (rowid !== undefined && rowid > horizon && id !== undefined) found.set(id, Math.floor(rowid / ROWIDS_PER_MS))
    }
    return found
  }

  return {
    has(ids) {
      const known = new Set(cache.has(ids) as ReadonlySet<string>)
      if (now() >= uncachedUntil) return known
      const unknown = [...new Set(ids.filter((id) => !known.has(id)))]
      if (unknown.length === 0) return known
      const found = lookUp(unknown)
      for (const [id, at] of found) {
        known.add(id)
        // Its re-sends are then answered from memory.
        cache.add([id], at)
      }
      if (found.size > 0) noteCacheFull()
      return known
    },
    add(ids, at) {
      // Memory first: if the write fails, the id is still remembered until the cache forgets it.
      cache.add(ids, at)
      noteCacheFull()
      const rowid = Math.max(lastRowid + 1, Math.floor(at) * ROWIDS_PER_MS)
      sql.exec(`INSERT INTO ${TABLE}(rowid, ids) VALUES (?, ?)`, rowid, ids.map(tokenOf).join(' '))
      lastRowid = rowid
      if (!scheduled) {
        scheduled = true
        schedule(Math.floor(at) + retentionMs)
      }
    },
    size: () => cache.size(),
    cleanUp() {
      const at = now()
      const horizon = (at - retentionMs) * ROWIDS_PER_MS
      sql.exec(
        `DELETE FROM ${TABLE} WHERE rowid IN (SELECT rowid FROM ${TABLE} WHERE rowid < ? ORDER BY rowid LIMIT ?)`,
        horizon,
        CLEAN_UP_CHUNK,
      )
      const oldest = numberOf(sql.exec(`SELECT rowid FROM ${TABLE} ORDER BY rowid LIMIT 1`).toArray()[0]?.['rowid'])
      if (oldest === undefined) {
        scheduled = false
        return undefined
      }
      if (oldest < horizon) return at + CLEAN_UP_PAUSE_MS
      return Math.max(at + CLEAN_UP_INTERVAL_MS, Math.ceil(oldest / ROWIDS_PER_MS) + retentionMs)
    },
  }
}

function numberOf(value: SqlValue | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined
}
