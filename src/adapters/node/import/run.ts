/**
 * A bulk import: rows streamed from a file, sent through the backend client (the same Coalescer
 * and coordination as the proxy) at the key's ceiling, with memory flat for a file of any size,
 * rejected rows written to a side file, and every step recorded so that the same command after
 * Ctrl-C or a crash continues where it stopped and sends nothing twice (see `checkpoint.ts`).
 */
import { hash } from 'node:crypto'
import { appendFileSync, existsSync, statSync, truncateSync } from 'node:fs'
import { digestOf } from '../../../proxy/fingerprint.js'
import type { ProxyLogger } from '../../../proxy/options.js'
import type { TrackResult } from '../../../server/index.js'
import { createFileMemory } from '../file-memory.js'
import { createClient } from '../server-client.js'
import { filesOf, loadProgress, noCounts, saveProgress, type Counts } from './checkpoint.js'
import { openJournal, type Sent } from './journal.js'
import { countRows, formatOf, readRows, type Format, type Row } from './rows.js'

/** Options of {@link runImport}. */
export interface ImportOptions {
  file: string
  format?: Format
  apiKey: string
  upstreamUrl?: string
  redisUrl?: string
  maxRequestsPerSecond?: number
  /** Rows handed to the client at once, at least 200. Default `5000`: enough to keep the pacer's ten slots full, little enough to keep memory flat. */
  rowsInFlight?: number
  /** Hears how far the import is, after each settled chunk. */
  onProgress?: (progress: ImportProgress) => void
  /** Aborted (Ctrl-C): no new row is taken; what was handed over is settled and recorded. */
  signal?: AbortSignal
  logger?: ProxyLogger
  fetch?: typeof fetch
  now?: () => number
}

export interface ImportProgress {
  total: number
  /** Rows settled, this run and earlier ones. */
  settled: number
  counts: Counts
}

/** How an import ended. */
export interface ImportSummary extends ImportProgress {
  /** Stopped before the end (Ctrl-C): the same command continues. */
  stopped: boolean
  /** Engagements an earlier run had on their way to Conversion when it was killed: sent again, so possibly there twice. */
  possiblyDoubled: number
  rejectedFile: string
  /** Rows this run sent, and how long it took. */
  sentThisRun: number
  elapsedMs: number
}

/** Rows per call of the client: one upstream batch. */
const CHUNK = 200
const ROWS_IN_FLIGHT = 5_000
const SAVE_EVERY_MS = 500

interface Chunk {
  rows: Row[]
  results: Promise<TrackResult[]> | undefined
  settled: TrackResult[] | undefined
}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const now = options.now ?? Date.now
  const startedRun = now()
  const format = options.format ?? formatOf(options.file)
  const files = filesOf(options.file)
  const total = await countRows(options.file, format)
  let progress = loadProgress(options.file, files, now())
  // Done already: a repeated import starts over, and its engagements are answered as duplicates.
  if (progress.done >= total && total > 0) progress = { ...progress, done: 0, rejectedBytes: 0, counts: noCounts() }
  if (existsSync(files.rejected)) truncateSync(files.rejected, progress.rejectedBytes)

  const memory = options.redisUrl === undefined ? createFileMemory({ path: files.delivered, now }) : undefined
  const journal = openJournal(files.inFlight)
  const possiblyDoubled = await unsettledOf(journal.unanswered, memory, now())
  const client = createClient({
    apiKey: options.apiKey,
    ...(options.upstreamUrl ? { upstreamUrl: options.upstreamUrl } : {}),
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    ...(options.maxRequestsPerSecond ? { maxRequestsPerSecond: options.maxRequestsPerSecond } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(memory ? { memory } : {}),
    fetch: journal.watch(options.fetch ?? ((input, init) => fetch(input, init))),
  })
  const createdAt = new Date(progress.startedAt).toISOString()
  const line: Chunk[] = []
  let sentThisRun = 0
  let savedAt = 0

  /** Records the chunks at the head of the line that are settled, in order, and saves now and then. */
  const advance = (force: boolean) => {
    while (line[0]?.settled) {
      const chunk = line.shift() as Chunk
      chunk.rows.forEach((row, at) => record(row, chunk.settled?.[at] as TrackResult))
      progress.done = chunk.rows[chunk.rows.length - 1]?.number ?? progress.done
    }
    if (force || now() - savedAt >= SAVE_EVERY_MS) {
      progress.rejectedBytes = existsSync(files.rejected) ? statSync(files.rejected).size : 0
      saveProgress(files, progress)
      savedAt = now()
    }
    options.onProgress?.({ total, settled: progress.done, counts: { ...progress.counts } })
  }

  const record = (row: Row, result: TrackResult) => {
    const status = result.status
    progress.counts[status]++
    if (status === 'rejected')
      appendFileSync(
        files.rejected,
        `${JSON.stringify({ row: row.number, reason: result.reason, ...(result.field ? { field: result.field } : {}), text: row.text })}\n`,
      )
  }

  const dispatch = (rows: Row[]) => {
    const chunk: Chunk = { rows, results: undefined, settled: undefined }
    const inputs = rows.map(
      (row) => row.input && { createdAt, ...row.input, id: row.input.id ?? `row-${hash('sha256', row.text, 'hex').slice(0, 32)}` },
    )
    const sendable = rows.map((row, at) => (row.problem ? undefined : inputs[at])).filter((input) => input !== undefined)
    chunk.results = client.trackMany(sendable as never[]).then((results) => {
      let next = 0
      chunk.settled = rows.map((row) =>
        row.problem ? { status: 'rejected', id: '', reason: row.problem } : (results[next++] as TrackResult),
      )
      sentThisRun += sendable.length
      return chunk.settled
    })
    line.push(chunk)
  }

  try {
    let rows: Row[] = []
    for await (const row of readRows(options.file, format, progress.done + 1)) {
      if (options.signal?.aborted) break
      rows.push(row)
      if (rows.length < CHUNK) continue
      dispatch(rows)
      rows = []
      if (line.length * CHUNK >= (options.rowsInFlight ?? ROWS_IN_FLIGHT)) await line[0]?.results
      advance(false)
    }
    if (rows.length > 0 && !options.signal?.aborted) dispatch(rows)
    await Promise.all(line.map((chunk) => chunk.results))
    advance(true)
  } finally {
    await client.close()
    memory?.close()
  }
  const stopped = progress.done < total
  if (!stopped) journal.clear()
  return {
    total,
    settled: progress.done,
    counts: progress.counts,
    stopped,
    possiblyDoubled,
    rejectedFile: files.rejected,
    sentThisRun,
    elapsedMs: now() - startedRun,
  }
}

/** Of the engagements an earlier run had on their way, those the memory does not know delivered. */
async function unsettledOf(
  unanswered: readonly Sent[],
  memory: ReturnType<typeof createFileMemory> | undefined,
  now: number,
): Promise<number> {
  if (unanswered.length === 0 || !memory) return unanswered.length
  const sha256 = (text: string) => hash('sha256', text, 'hex')
  const keys = await Promise.all(unanswered.map(async ({ id, json }) => ({ id, digest: await digestOf(sha256, id, json) })))
  return (memory.recall(keys, now) as string[]).filter((verdict) => verdict !== 'known').length
}
