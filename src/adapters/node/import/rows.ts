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
  // Columns are matched here, not by csv-parse: with its own check one short row would end the whole import.
  const records = createReadStream(path).pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, raw: true, info: true }))
  let header: string[] | undefined
  let number = 0
  for await (const { record, raw, info } of records as AsyncIterable<{ record: string[]; raw: string; info: { lines: number } }>) {
    if (!header) {
      header = record
      continue
    }
    if (++number < from) continue
    const columns = header
    const text = raw.replace(/\r?\n$/, '')
    yield rowOf(number, text, () => {
      if (record.length !== columns.length) {
        // csv-parse counts the line the record ends on.
        const line = info.lines - (text.match(/\n/g)?.length ?? 0)
        throw new Error(`line ${line} has ${record.length} cells: each row must have one per column of the header (${columns.length})`)
      }
      return fromColumns(columns, record)
    })
  }
}

/** A CSV record as an engagement: empty cells are absent, `data` is parsed as JSON. */
function fromColumns(columns: readonly string[], cells: readonly string[]): Record<string, unknown> {
  const input: Record<string, unknown> = {}
  for (const [at, column] of columns.entries()) {
    const cell = cells[at] as string
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
