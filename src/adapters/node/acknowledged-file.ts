/**
 * The memory of acknowledged ids in a file, for a Node proxy that must survive its own restart.
 *
 * Why: the browser re-sends what got no answer. If the proxy process dies after Conversion
 * acknowledged a batch but before the browser heard so, the re-send reaches a new process; with
 * the memory only in the old process's heap, the new one would forward those ids a second time.
 *
 * The file is append-only, one line per acknowledged upstream batch: `[<epoch ms>,["id",...]]`.
 * A line is written synchronously, before the answer to the browser leaves the process, so a
 * crash at any moment loses at most a line that no browser was told about. The last line may be
 * torn by a crash; it is skipped when the file is read. The file is rewritten (compacted) with
 * only the live ids when it is read and whenever it grows to twice their size, so it stays
 * bounded by `capacity` and the retention period.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { createAcknowledgedIds, type AcknowledgedIds } from '../../core/acknowledged.js'

/** Options of {@link createFileAcknowledgedIds}. */
export interface FileAcknowledgedIdsOptions {
  /**
   * The file, created with its folder when missing. One proxy process per file: a second process
   * would neither see the first one's ids nor keep them when it compacts.
   */
  path: string
  /** Current time in epoch ms: ids expire by this clock. Default `Date.now`. */
  now?: () => number
  /** How long an id is remembered, in ms. Default `86_400_000` (24 hours). */
  retentionMs?: number
  /**
   * Most ids remembered; beyond it the oldest are forgotten first. Default `250_000` (about 50 MB
   * of heap and 10 MB of file with 36-character ids).
   */
  capacity?: number
  /**
   * Hears what an operator should know: lines that could not be read (a torn last line after a
   * crash), a write that failed and the recovery after it. Default: nothing is said.
   */
  onProblem?: (message: string) => void
}

/** A file-backed {@link AcknowledgedIds}. */
export interface FileAcknowledgedIds extends AcknowledgedIds {
  /** Rewrites the file with only the ids still remembered. It also happens by itself. */
  compact(): void
  /** Closes the file. Later `add` calls keep ids in memory only. Safe to call twice. */
  close(): void
}

/** A file smaller than this is never compacted while running: rewriting it would cost more than it saves. */
const COMPACT_MIN_BYTES = 1_048_576
/** Ids per line when compacting, as an upstream batch holds at most 200. */
const IDS_PER_LINE = 200

/**
 * Opens (or creates) the file and reads the ids acknowledged within the retention period. Throws
 * when the file cannot be read or created: a proxy configured to remember should not start
 * without its memory.
 * @example
 * const acknowledged = createFileAcknowledgedIds({ path: '/var/lib/relay/acknowledged.log' })
 * const proxy = createProxy({ apiKey, allowedOrigins, acknowledged })
 */
export function createFileAcknowledgedIds(options: FileAcknowledgedIdsOptions): FileAcknowledgedIds {
  const { path } = options
  const tell = options.onProblem ?? (() => {})
  // The file only mirrors this memory, which decides expiry and eviction.
  const memory = createAcknowledgedIds({
    now: options.now ?? Date.now,
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
  })
  let fileBytes = 0
  /** Ids written to the file since it was last compacted, forgotten ones included. */
  let idsInFile = 0
  let fd: number | undefined
  let failing = false

  const compact = (): void => {
    const lines: string[] = []
    let line: string[] = []
    let lineAt = Number.NaN
    const endLine = () => {
      if (line.length > 0) lines.push(`${JSON.stringify([lineAt, line])}\n`)
      line = []
    }
    for (const [id, at] of memory.entries()) {
      if (at !== lineAt || line.length >= IDS_PER_LINE) {
        endLine()
        lineAt = at
      }
      line.push(id)
    }
    endLine()
    const text = lines.join('')
    // Written aside and renamed over the file: a crash in between leaves the old file whole.
    const temporary = `${path}.compacting`
    const out = openSync(temporary, 'w')
    try {
      writeAll(out, text)
      fsyncSync(out)
    } finally {
      closeSync(out)
    }
    // Closed first: some systems refuse to replace a file that is open.
    if (fd !== undefined) closeSync(fd)
    fd = undefined
    try {
      renameSync(temporary, path)
      fileBytes = Buffer.byteLength(text)
      idsInFile = memory.size()
    } finally {
      fd = openSync(path, 'a')
    }
  }

  // Read what earlier processes remembered.
  mkdirSync(dirname(path), { recursive: true })
  let text = ''
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const lines = text.split('\n')
  // After the last newline: '' for a whole file, else a line the crash cut short.
  const tail = lines.pop() as string
  let unreadable = tail === '' ? 0 : 1
  for (const line of lines) {
    const record = parseLine(line)
    if (record) memory.add(record.ids, record.at)
    else if (line !== '') unreadable++
  }
  if (unreadable > 0) tell(`${unreadable} unreadable line(s) skipped in ${path} (a torn last line after a crash is expected)`)
  // Starting from a clean file also drops the torn line, which the next append would otherwise extend.
  compact()

  return {
    has: (ids) => memory.has(ids),
    add(ids, at) {
      if (ids.length === 0) return
      memory.add(ids, at)
      if (fd === undefined) return
      try {
        if (fileBytes > COMPACT_MIN_BYTES && idsInFile > 2 * memory.size()) {
          // The ids just added are in memory, so the rewrite holds them: nothing to append.
          compact()
        } else {
          const line = `${JSON.stringify([at, ids])}\n`
          writeAll(fd, line)
          fileBytes += Buffer.byteLength(line)
          idsInFile += ids.length
        }
        if (failing) tell(`${path} is written again`)
        failing = false
      } catch (error) {
        if (!failing) tell(`${path} could not be written (${(error as Error).message}); ids are kept in memory only until it can`)
        failing = true
        // The Coalescer counts the failure; this process still remembers the ids.
        throw error
      }
    },
    size: () => memory.size(),
    compact() {
      if (fd !== undefined) compact()
    },
    close() {
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}

/** A line of the file, or undefined when it is not one this module wrote whole. */
function parseLine(line: string): { at: number; ids: string[] } | undefined {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [at, ids] = value as [unknown, unknown]
  if (typeof at !== 'number' || !Number.isFinite(at) || !Array.isArray(ids)) return undefined
  if (!ids.every((id) => typeof id === 'string')) return undefined
  return { at, ids: ids as string[] }
}

/** Writes all of `text`: a single write may take less than it was given. */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text)
  for (let offset = 0; offset < bytes.length; ) {
    const written = writeSync(fd, bytes, offset)
    if (written <= 0) throw new Error('the file took no bytes')
    offset += written
  }
}
