/**
 * A bulk import: rows streamed from a file, sent through the backend client (the same Coalescer
 * and coordination as the proxy) at the key's ceiling, with memory flat for a file of any size,
 * rejected rows written to a side file, and every step recorded so that the same command after
 * Ctrl-C or a crash continues where it stopped and sends nothing twice (see `checkpoint.ts`).
 */
import { hash } from 'node:crypto'
import { appendFileSync, existsSync, statSync, truncateSync } from 'node:fs'
import type { ProxyLogger } from '../../../proxy/options.js'
import type { MemoryKey } from '../../../core/coalescer/index.js'
import type { TrackResult } from '../../../server/index.js'
import { createFileMemory } from '../file-memory.js'
import { filesOf, loadProgress, noCounts, saveProgress, type Counts } from './checkpoint.js'
import { openJournal } from './journal.js'
import { countRows, formatOf, readRows, type Format, type Row } from './rows.js'
import { createImportSender } from './sender.js'

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
  /**
   * Aborted (a second Ctrl-C): gives up at once on what was handed over and not settled yet: it is
   * not recorded as done, so the same command sends it again (answered as duplicates where it arrived).
   */
  abandon?: AbortSignal
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
  /** Stopped before the end (Ctrl-C, or `halted`): the same command continues. */
  stopped: boolean
  /** Why sending stopped by itself before the end (Conversion refused the key or the route, say); undefined when it did not. */
  halted: string | undefined
  /** Engagements an earlier run had on their way to Conversion when it was killed: sent again, so possibly there twice. */
  possiblyDoubled: number
  /** Requests an earlier run was starting when it was killed, whose content is unknown (up to 200 engagements each, possibly twice). */
  unknownRequests: number
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
  const journal = await openJournal(files.inFlight, sha256)
  const possiblyDoubled = await unsettledOf(journal.earlier.unanswered, memory, now())
  const abandoned = new AbortController()
  const sender = createImportSender({
    apiKey: options.apiKey,
    upstreamUrl: options.upstreamUrl,
    redisUrl: options.redisUrl,
    memory,
    maxRequestsPerSecond: options.maxRequestsPerSecond,
    logger: options.logger,
    fetch: journal.watch(options.fetch ?? ((input, init) => fetch(input, init)), abandoned.signal),
    onStored: journal.stored,
  })
  const abandon = () => {
    abandoned.abort(new Error('the import was abandoned'))
    sender.abandon()
  }
  if (options.abandon?.aborted) abandon()
  options.abandon?.addEventListener('abort', abandon)
  const createdAt = new Date(progress.startedAt).toISOString()
  const line: Chunk[] = []
  let sentThisRun = 0
  let savedAt = 0
  /** Set at the first row not settled (`busy`): nothing from it on is recorded, so the same command sends it again. */
  let stoppedAt: { row: number; reason: string } | undefined

  /** Records the chunks at the head of the line that are settled, in order, and saves now and then. */
  const advance = (force: boolean) => {
    while (!stoppedAt && line[0]?.settled) {
      const chunk = line.shift() as Chunk
      for (const [at, row] of chunk.rows.entries()) {
        const result = chunk.settled?.[at] as TrackResult
        if (result.status === 'busy') {
          stoppedAt = { row: row.number, reason: result.reason }
          break
        }
        record(row, result)
        progress.done = row.number
      }
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
    chunk.results = sender.client.trackMany(sendable as never[]).then((results) => {
      let next = 0
      chunk.settled = rows.map((row) =>
        row.problem ? { status: 'rejected', id: '', reason: row.problem } : (results[next++] as TrackResult),
      )
      sentThisRun += results.filter((result) => result.status !== 'busy').length
      return chunk.settled
    })
    line.push(chunk)
  }

  /** Whether to take no new row: asked to stop, gave up, or sending stopped. */
  const ending = () => options.signal?.aborted || abandoned.signal.aborted || stoppedAt !== undefined
  try {
    let rows: Row[] = []
    for await (const row of readRows(options.file, format, progress.done + 1)) {
      if (ending()) break
      rows.push(row)
      if (rows.length < CHUNK) continue
      dispatch(rows)
      rows = []
      if (line.length * CHUNK >= (options.rowsInFlight ?? ROWS_IN_FLIGHT)) await line[0]?.results
      advance(false)
    }
    if (rows.length > 0 && !ending()) dispatch(rows)
    await Promise.all(line.map((chunk) => chunk.results))
    advance(true)
  } finally {
    options.abandon?.removeEventListener('abort', abandon)
    await sender.close()
    memory?.close()
    journal.end()
  }
  return {
    total,
    settled: progress.done,
    counts: progress.counts,
    stopped: progress.done < total,
    // Given up by the operator (a second Ctrl-C) is a stop, not a halt.
    halted: abandoned.signal.aborted ? undefined : stoppedAt?.reason,
    possiblyDoubled,
    unknownRequests: journal.earlier.unknownRequests,
    rejectedFile: files.rejected,
    sentThisRun,
    elapsedMs: now() - startedRun,
  }
}

/** Of the engagements an earlier run had on their way, those the memory does not know delivered. */
async function unsettledOf(unanswered: readonly MemoryKey[], memory: ReturnType<typeof createFileMemory> | undefined, now: number) {
  if (unanswered.length === 0 || !memory) return unanswered.length
  return (memory.recall(unanswered, now) as string[]).filter((verdict) => verdict !== 'known').length
}

const sha256 = (text: string) => hash('sha256', text, 'hex')
