/**
 * The rows of a file to import, streamed: JSON Lines (one engagement per line) or CSV (a header
 * row naming the fields; `data` as a JSON object in its column), read without holding the file in
 * memory. CSV is read by csv-parse: quoting, embedded newlines and byte-order marks are its job.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { parse } from 'csv-parse'

/** One row: where it is, its text as read (it names the row for ids and the side file), and what it holds. */
export interface Row {
  /** 1-based, counting data rows only (a CSV header is not one). */
  number: number
  text: string
  /** The engagement the row describes, or why it describes none. */
  input: Record<string, unknown> | undefined
  problem: string | undefined
}

export type Format = 'jsonl' | 'csv'

/** The format a file's name implies: `.csv` is CSV, anything else JSON Lines. */
export const formatOf = (path: string): Format => (/\.csv$/i.test(path) ? 'csv' : 'jsonl')

/** Reads the rows of `path`, from row `from` on (1-based; earlier rows are skipped, not parsed). */
export function readRows(path: string, format: Format, from = 1): AsyncIterable<Row> {
  return format === 'csv' ? csvRows(path, from) : jsonLines(path, from)
}

async function* jsonLines(path: string, from: number): AsyncIterable<Row> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })
  let number = 0
  for await (const line of lines) {
    if (line.trim() === '') continue
    if (++number < from) continue
    yield rowOf(number, line, () => JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line) as unknown)
  }
}

async function* csvRows(path: string, from: number): AsyncIterable<Row> {
  const records = createReadStream(path).pipe(
    parse({ bom: true, columns: true, skip_empty_lines: true, relax_column_count: false, raw: true }),
  )
  let number = 0
  for await (const { record, raw } of records as AsyncIterable<{ record: Record<string, string>; raw: string }>) {
    if (++number < from) continue
    yield rowOf(number, raw.replace(/\r?\n$/, ''), () => fromColumns(record))
  }
}

/** A CSV record as an engagement: empty cells are absent, `data` is parsed as JSON. */
function fromColumns(record: Record<string, string>): Record<string, unknown> {
  const input: Record<string, unknown> = {}
  for (const [column, cell] of Object.entries(record)) {
    if (cell === '') continue
    if (column !== 'data') input[column] = cell
    else {
      try {
        input[column] = JSON.parse(cell) as unknown
      } catch {
        throw new Error('the data column must hold a JSON object')
      }
    }
  }
  return input
}

function rowOf(number: number, text: string, read: () => unknown): Row {
  try {
    const value = read()
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { number, text, input: undefined, problem: 'the row must be a JSON object' }
    return { number, text, input: value as Record<string, unknown>, problem: undefined }
  } catch (error) {
    const reason = error instanceof SyntaxError ? 'the row is not valid JSON' : (error as Error).message
    return { number, text, input: undefined, problem: reason }
  }
}

/** How many data rows the file holds (one quick pass; the progress bar's total). */
export async function countRows(path: string, format: Format): Promise<number> {
  let count = 0
  for await (const _ of readRows(path, format)) count++
  return count
}
