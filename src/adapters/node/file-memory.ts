/**
 * The memory of delivered engagements in a file, for a Node proxy that must survive its own restart.
 *
 * Why: the browser re-sends what got no answer. If the proxy process dies after Conversion
 * acknowledged a batch but before the browser heard so, the re-send reaches a new process; with
 * the memory only in the old process's heap, the new one would forward those engagements again.
 *
 * The file is append-only, one line per acknowledged upstream batch:
 * `{"at":<epoch ms>,"digests":["<32 hex>",...]}` (a digest binds an id to its content). A line is
 * written synchronously, before the answer to the browser leaves the process, so a crash at any
 * moment loses at most a line that no browser was told about. The last line may be torn by a
 * crash; it is skipped when the file is read. Lines of earlier versions, `[<epoch ms>,["id",...]]`,
 * are read as "this id, any content". The file is read a chunk at a time (a line at a time), so
 * that its size is bounded by the disk, not by the longest string the engine can make. It is
 * rewritten (compacted) with only what is remembered whenever it grows to twice what that rewrite
 * would write, so it stays bounded by `capacity` and the retention period; also when it is opened
 * with lines it cannot read, but not for a torn last line alone, which is cut off instead: at
 * capacity a rewrite takes seconds, which a restart should not wait for.
 */
import { hash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, truncateSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DeliveryMemory } from '../../core/coalescer/index.js'
import { ANY_CONTENT, createMemory, type MemoryOptions } from '../../core/memory.js'
import { forEachLine, type LineReading, type LinesRead } from './file-lines.js'

/** Options of {@link createFileMemory}. */
export interface FileMemoryOptions extends MemoryOptions {
  /**
   * The file, created with its folder when missing. One proxy process per file: a second process
   * would neither see the first one's engagements nor keep them when it compacts.
   */
  path: string
  /** Current time in epoch ms: what is read expires by this clock. Default `Date.now`. */
  now?: () => number
  /**
   * Hears what an operator should know: lines that could not be read (a torn last line after a
   * crash), a write that failed and the recovery after it. Default: nothing is said.
   */
  onProblem?: (message: string) => void
}

/** A file-backed {@link DeliveryMemory}. */
export interface FileMemory extends DeliveryMemory {
  /** Rewrites the file with only what is still remembered. It also happens by itself. */
  compact(): void
  /** Closes the file. Later acknowledgements are kept in memory only. Safe to call twice. */
  close(): void
}

/**
 * How the file is handled, for tests that cannot write hundreds of megabytes. Not an option:
 * the defaults are the only values a proxy needs.
 * @internal
 */
export interface FileMemoryTuning {
  /** How the file is read when opened. Default: 1 MiB chunks, lines up to 1 MiB. */
  reading?: LineReading
  /**
   * A file smaller than this is never compacted while running: rewriting it would cost more than
   * it saves. Default `1048576` (1 MiB).
   */
  compactFromBytes?: number
}

/** Digests per line when compacting, as an upstream batch holds at most 200. */
const DIGESTS_PER_LINE = 200
/**
 * What a digest costs in a compacted file: 32 hex digits, 2 quotes and a comma, plus its share
 * of a line's time and brackets (about 33 bytes over 200 digests), rounded up.
 */
const COMPACTED_BYTES_PER_DIGEST = 36
/** Compacted text is written in pieces of about this size, rather than built as one string. */
const WRITE_CHUNK_CHARS = 1_048_576
const DIGEST = /^[0-9a-f]{32}$/

/**
 * Opens (or creates) the file and reads what was delivered within the retention period. Throws
 * when the file cannot be read or created: a proxy configured to remember should not start
 * without its memory.
 * @example
 * const memory = createFileMemory({ path: '/var/lib/relay/delivered.log' })
 * const proxy = createProxy({ apiKey, allowedOrigins, memory })
 */
export function createFileMemory(options: FileMemoryOptions, tuning: FileMemoryTuning = {}): FileMemory {
  const { path } = options
  const now = options.now ?? Date.now
  const tell = options.onProblem ?? (() => {})
  // The file only mirrors this memory, which decides expiry and eviction.
  const memory = createMemory({
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
  })
  const compactFromBytes = tuning.compactFromBytes ?? 1_048_576
  let fileBytes = 0
  let fd: number | undefined
  let failing = false

  /**
   * Whether the file should be rewritten. Lines of few digests cost up to twice what a compacted
   * digest does, and forgotten digests stay in the file until it is rewritten, so neither the
   * count of digests in the file nor a fixed size bounds it well; twice what the rewrite would
   * write does: the file (and the time to read it at a restart) stays within twice the memory it
   * mirrors, and each rewrite is paid for by as many bytes appended since the last one.
   */
  const oversized = (): boolean => fileBytes > Math.max(compactFromBytes, 2 * COMPACTED_BYTES_PER_DIGEST * memory.size())

  const compact = (): void => {
    // Written aside and renamed over the file: a crash in between leaves the old file whole.
    const temporary = `${path}.compacting`
    const out = openSync(temporary, 'w')
    let written = 0
    try {
      let text = ''
      let line: string[] = []
      let lineAt = Number.NaN
      const endLine = () => {
        if (line.length > 0) text += lineOf(lineAt, line)
        line = []
        // In pieces: the whole text would be a string of hundreds of megabytes at capacity.
        if (text.length >= WRITE_CHUNK_CHARS) {
          written += writeAll(out, text)
          text = ''
        }
      }
      for (const [digest, at] of memory.entries()) {
        if (at !== lineAt || line.length >= DIGESTS_PER_LINE) {
          endLine()
          lineAt = at
        }
        line.push(digest)
      }
      endLine()
      written += writeAll(out, text)
      fsyncSync(out)
    } finally {
      closeSync(out)
    }
    // Closed first: some systems refuse to replace a file that is open.
    if (fd !== undefined) closeSync(fd)
    fd = undefined
    try {
      renameSync(temporary, path)
      fileBytes = written
    } finally {
      fd = openSync(path, 'a')
    }
  }

  // Read what earlier processes remembered.
  mkdirSync(dirname(path), { recursive: true })
  let unreadable = 0
  let skipped: LinesRead = { torn: false, overlong: 0, wholeBytes: 0 }
  try {
    skipped = forEachLine(
      path,
      (line) => {
        const record = parseLine(line)
        if (record) memory.restore(record.digests.map((digest) => [digest, record.at]))
        else if (line !== '') unreadable++
      },
      tuning.reading,
    )
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  unreadable += skipped.overlong
  fileBytes = skipped.wholeBytes
  // What a crash in the middle of a write leaves: cut off, or the next append would extend it.
  if (skipped.torn) truncateSync(path, fileBytes)
  // Forgets what expired while no process ran, before the file is weighed against the memory.
  memory.recall([], now())
  const told = unreadable + (skipped.torn ? 1 : 0)
  if (told > 0) tell(`${told} unreadable line(s) skipped in ${path} (a torn last line after a crash is expected)`)
  fd = openSync(path, 'a')
  // Lines it cannot read would be skipped (and told) again at every start.
  if (unreadable > 0 || oversized()) compact()

  return {
    recall: (keys, at) => memory.recall(keys, at),
    release: () => {},
    acknowledge(keys, at) {
      if (keys.length === 0) return
      memory.acknowledge(keys, at)
      if (fd === undefined) return
      try {
        if (oversized()) {
          // What was just acknowledged is in memory, so the rewrite holds it: nothing to append.
          compact()
        } else {
          const digests = keys.map((key) => key.digest)
          fileBytes += writeAll(fd, lineOf(at, digests))
        }
        if (failing) tell(`${path} is written again`)
        failing = false
      } catch (error) {
        if (!failing) tell(`${path} could not be written (${(error as Error).message}); deliveries are kept in memory only until it can`)
        failing = true
        // The Coalescer counts the failure; this process still remembers the engagements.
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

const lineOf = (at: number, digests: readonly string[]): string => `${JSON.stringify({ at, digests })}\n`

/** A line of the file, or undefined when it is not one this module wrote whole. */
function parseLine(line: string): { at: number; digests: string[] } | undefined {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  const record = value as { at?: unknown; digests?: unknown } | null
  if (record && typeof record === 'object' && !Array.isArray(record)) {
    const { at, digests } = record
    if (!isTime(at) || !Array.isArray(digests) || !digests.every((digest) => typeof digest === 'string' && DIGEST.test(digest)))
      return undefined
    return { at, digests }
  }
  // An earlier version's line: ids without their content.
  if (!Array.isArray(value) || value.length !== 2) return undefined
  const [at, ids] = value as [unknown, unknown]
  if (!isTime(at) || !Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) return undefined
  return { at, digests: ids.map((id: string) => hash('sha256', id, 'hex').slice(0, 16) + ANY_CONTENT) }
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** Writes all of `text`, which a single write may not take; returns its length in bytes. */
function writeAll(fd: number, text: string): number {
  const bytes = Buffer.from(text)
  for (let offset = 0; offset < bytes.length; ) {
    const written = writeSync(fd, bytes, offset)
    if (written <= 0) throw new Error('the file took no bytes')
    offset += written
  }
  return bytes.length
}
