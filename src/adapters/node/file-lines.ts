/**
 * The lines of a file, read a chunk at a time.
 *
 * Why: reading a whole file into one string fails once the file is longer than the longest string
 * the JavaScript engine can make (about 512 MiB in V8), and holds all of it in memory at once. Read
 * in chunks, a file is bounded only by the disk; only one chunk and one line are held at a time.
 *
 * Lines are split on the newline byte, before decoding: it never occurs inside a multi-byte UTF-8
 * character, so a chunk boundary that cuts a character in two is harmless.
 */
import { closeSync, openSync, readSync } from 'node:fs'

/** How a file is read by {@link forEachLine}. */
export interface LineReading {
  /** Bytes read at a time. Default `1048576` (1 MiB). */
  chunkBytes?: number
  /**
   * A longer line is skipped, without being held whole in memory: no line this project writes
   * comes close. Default `1048576` (1 MiB).
   */
  maxLineBytes?: number
}

/** What {@link forEachLine} could not hand over, and where the whole lines end. */
export interface LinesRead {
  /** Text after the last newline: a line a crash cut short (a whole file ends with a newline). */
  torn: boolean
  /** Lines longer than `maxLineBytes` that a newline ends, skipped. */
  overlong: number
  /** Bytes up to the last newline: the file without what a crash cut short. */
  wholeBytes: number
}

const NEWLINE = 0x0a
const MIB = 1_048_576

/**
 * Calls `onLine` with each line of the file that a newline ends, without that newline, in order.
 * Throws what opening or reading the file throws (ENOENT when it is missing).
 */
export function forEachLine(path: string, onLine: (line: string) => void, reading: LineReading = {}): LinesRead {
  const chunkBytes = reading.chunkBytes ?? MIB
  const maxLineBytes = reading.maxLineBytes ?? MIB
  const chunk = Buffer.alloc(chunkBytes)
  /** The start of the current line, from earlier chunks. */
  let pending: Buffer[] = []
  let pendingBytes = 0
  /** True while the rest of an overlong line is being passed over. */
  let skipping = false
  let overlong = 0
  /** Bytes read in earlier chunks, and up to the last newline. */
  let before = 0
  let wholeBytes = 0
  const fd = openSync(path, 'r')
  try {
    for (let read = readSync(fd, chunk, 0, chunkBytes, null); read > 0; read = readSync(fd, chunk, 0, chunkBytes, null)) {
      const data = chunk.subarray(0, read)
      let start = 0
      for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
        if (!skipping && pendingBytes + end - start <= maxLineBytes) {
          const piece = data.subarray(start, end)
          onLine(pendingBytes === 0 ? piece.toString('utf8') : Buffer.concat([...pending, piece]).toString('utf8'))
        } else overlong++
        pending = []
        pendingBytes = 0
        skipping = false
        start = end + 1
        wholeBytes = before + start
      }
      before += read
      if (skipping || start === read) continue
      if (pendingBytes + read - start > maxLineBytes) {
        // Passed over up to its newline, and counted there.
        skipping = true
        pending = []
        pendingBytes = 0
      } else {
        // Copied: the chunk is read into again.
        pending.push(Buffer.from(data.subarray(start)))
        pendingBytes += read - start
      }
    }
  } finally {
    closeSync(fd)
  }
  return { torn: pendingBytes > 0 || skipping, overlong, wholeBytes }
}
