/**
 * Where an import stands, in files beside its input, so that the same command after Ctrl-C or a
 * crash continues where it stopped:
 * - `<file>.progress.json`: the rows done (every row before it is settled), counts so far, when
 *   the import first started (the `createdAt` of rows that give none), and the input's size and
 *   time, so that a changed file is not resumed by mistake. Written aside and renamed over.
 * - `<file>.delivered.log`: the memory of delivered engagements (the proxy's state file), so a
 *   resumed or repeated import is answered as duplicates without reaching Conversion.
 * - `<file>.rejected.jsonl`: each rejected row with its reason.
 * - `<file>.in-flight.log`: upstream requests started and not yet answered (see `journal.ts`).
 */
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'

/** Results counted so far. */
export interface Counts {
  accepted: number
  duplicate: number
  rejected: number
  busy: number
}

/** What `<file>.progress.json` holds. */
export interface Progress {
  version: 1
  /** The input as it was when the import started. */
  size: number
  modifiedMs: number
  /** When the import first started, in epoch ms: the `createdAt` of rows that give none. */
  startedAt: number
  /** Rows settled, counted from the first: the import continues after them. */
  done: number
  /** Length of the rejected-rows file when `done` was written: what a resume keeps of it. */
  rejectedBytes: number
  counts: Counts
}

export interface ImportFiles {
  progress: string
  delivered: string
  rejected: string
  inFlight: string
}

export const filesOf = (input: string): ImportFiles => ({
  progress: `${input}.progress.json`,
  delivered: `${input}.delivered.log`,
  rejected: `${input}.rejected.jsonl`,
  inFlight: `${input}.in-flight.log`,
})

export const noCounts = (): Counts => ({ accepted: 0, duplicate: 0, rejected: 0, busy: 0 })

/**
 * The progress to continue from: what the files say, or a fresh start. Throws when the input
 * changed since the progress was written (resuming would skip the wrong rows).
 */
export function loadProgress(input: string, files: ImportFiles, now: number): Progress {
  const { size, mtimeMs } = statSync(input)
  const fresh: Progress = {
    version: 1,
    size,
    modifiedMs: Math.floor(mtimeMs),
    startedAt: now,
    done: 0,
    rejectedBytes: 0,
    counts: noCounts(),
  }
  if (!existsSync(files.progress)) return fresh
  const stored = JSON.parse(readFileSync(files.progress, 'utf8')) as Progress
  if (stored.version !== 1 || stored.size !== size || stored.modifiedMs !== Math.floor(mtimeMs)) {
    throw new Error(`${input} changed since its import started: delete ${files.progress} to import it afresh`)
  }
  return stored
}

/** Writes the progress aside, then renames it over the old one: a crash leaves one whole file. */
export function saveProgress(files: ImportFiles, progress: Progress): void {
  const aside = `${files.progress}.writing`
  writeFileSync(aside, `${JSON.stringify(progress)}\n`)
  renameSync(aside, files.progress)
}
