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
 * are read as "this id, any content". The file is rewritten (compacted) with only what is
 * remembered when it is read and whenever it grows to twice that, so it stays bounded by
 * `capacity` and the retention period.
 */
import { hash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DeliveryMemory } from '../../core/coalescer/index.js'
import { ANY_CONTENT, createMemory, type MemoryOptions } from '../../core/memory.js'

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

/** A file smaller than this is never compacted while running: rewriting it would cost more than it saves. */
const COMPACT_MIN_BYTES = 1_048_576
/** Digests per line when compacting, as an upstream batch holds at most 200. */
const DIGESTS_PER_LINE = 200
const DIGEST = /^[0-9a-f]{32}$/

/**
 * Opens (or creates) the file and reads what was delivered within the retention period. Throws
 * when the file cannot be read or created: a proxy configured to remember should not start
 * without its memory.
 * @example
 * const memory = createFileMemory({ path: '/var/lib/relay/delivered.log' })
 * const proxy = createProxy({ apiKey, allowedOrigins, memory })
 */
export function createFileMemory(options: FileMemoryOptions): FileMemory {
  const { path } = options
  const now = options.now ?? Date.now
  const tell = options.onProblem ?? (() => {})
  // The file only mirrors this memory, which decides expiry and eviction.
  const memory = createMemory({
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
  })
  let fileBytes = 0
  /** Digests written to the file since it was last compacted, forgotten ones included. */
  let digestsInFile = 0
  let fd: number | undefined
  let failing = false

  const compact = (): void => {
    const lines: string[] = []
    let line: string[] = []
    let lineAt = Number.NaN
    const endLine = () => {
      if (line.length > 0) lines.push(lineOf(lineAt, line))
      line = []
    }
    for (const [digest, at] of memory.entries()) {
      if (at !== lineAt || line.length >= DIGESTS_PER_LINE) {
        endLine()
        lineAt = at
      }
      line.push(digest)
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
      digestsInFile = memory.size()
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
    if (record) memory.restore(record.digests.map((digest) => [digest, record.at]))
    else if (line !== '') unreadable++
  }
  // What expired while no process ran is not written back.
  memory.recall([], now())
  if (unreadable > 0) tell(`${unreadable} unreadable line(s) skipped in ${path} (a torn last line after a crash is expected)`)
  // Starting from a clean file also drops the torn line, which the next append would otherwise extend.
  compact()

  return {
    recall: (keys, at) => memory.recall(keys, at),
    release: () => {},
    acknowledge(keys, at) {
      if (keys.length === 0) return
      memory.acknowledge(keys, at)
      if (fd === undefined) return
      try {
        if (fileBytes > COMPACT_MIN_BYTES && digestsInFile > 2 * memory.size()) {
          // What was just acknowledged is in memory, so the rewrite holds it: nothing to append.
          compact()
        } else {
          const line = lineOf(
            at,
            keys.map((key) => key.digest),
          )
          writeAll(fd, line)
          fileBytes += Buffer.byteLength(line)
          digestsInFile += keys.length
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

/** Writes all of `text`: a single write may take less than it was given. */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text)
  for (let offset = 0; offset < bytes.length; ) {
    const written = writeSync(fd, bytes, offset)
    if (written <= 0) throw new Error('the file took no bytes')
    offset += written
  }
}
