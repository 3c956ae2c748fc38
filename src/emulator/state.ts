import type { Engagement } from '../contract.js'
import { createPacer } from '../core/pacer.js'
import { createBoundedList } from './bounded-list.js'
import { createBusiestWindow } from './busiest-window.js'
import { applyFaultSettings, isStorming } from './faults.js'
import type { Settings } from './settings.js'
import type { EmulatorInspection, RecordedEngagement, RequestLogEntry } from './types.js'

/** A log entry while its request is being answered. */
export type OpenLogEntry = { -readonly [K in keyof RequestLogEntry]: RequestLogEntry[K] }

/** What the rate check decided for one request start. */
export type Admission = 'admitted' | 'storm' | 'limited'

/** Everything the emulator remembers, and the only code that changes it. */
export interface EmulatorState extends EmulatorInspection {
  /** Opens the log entry of a request arriving at `at`. */
  arrive(at: number, method: string, path: string): OpenLogEntry
  /** The rate check of an authenticated request start. */
  admit(at: number): Admission
  /** Records the engagements of a request answered 200. */
  accept(entry: OpenLogEntry, batch: readonly Engagement[]): void
  recordedAfter(position: number, limit: number): RecordedEngagement[]
  requestsAfter(seq: number, limit: number): RequestLogEntry[]
  /** How many engagement records and log entries are kept. */
  counts(): { engagements: number; requests: number }
}

export function createEmulatorState(settings: Settings): EmulatorState {
  const { maxRequestsPerSecond: limit, windowMs, recordLimit } = settings
  // How often each kept record's id occurs; drops keep it in step with what is kept.
  const idCounts = new Map<string, number>()
  const log = createBoundedList<OpenLogEntry>(recordLimit)
  const records = createBoundedList<RecordedEngagement>(recordLimit, ({ engagement: { id } }) => {
    const count = (idCounts.get(id) ?? 1) - 1
    if (count > 0) idCounts.set(id, count)
    else idCounts.delete(id)
  })
  // Only admitted starts take room in the window: a client refused with 429 at 999 ms can
  // start again as soon as its first start leaves the window, as a sliding log limiter allows.
  let pacer = createPacer({ limit, windowMs })
  let busiest = createBusiestWindow(windowMs)
  let faults = settings.initialFaults
  let nextSeq = 1
  let nextPosition = 1

  const snapshot = (entry: OpenLogEntry): RequestLogEntry => ({ ...entry })

  return {
    arrive(at, method, path) {
      const entry: OpenLogEntry = {
        seq: nextSeq++,
        at,
        method,
        path,
        status: null,
        count: 0,
        bytes: 0,
        durationMs: null,
        fault: null,
      }
      log.push(entry)
      return entry
    },
    admit(at) {
      busiest.record(at)
      if (isStorming(faults, at)) return 'storm'
      return pacer.take(at) ? 'admitted' : 'limited'
    },
    accept(entry, batch) {
      for (const engagement of batch) {
        records.push(Object.freeze({ position: nextPosition++, requestSeq: entry.seq, receivedAt: entry.at, engagement }))
        idCounts.set(engagement.id, (idCounts.get(engagement.id) ?? 0) + 1)
      }
    },
    recordedAfter: (position, max) => records.after((record) => record.position, position, max),
    requestsAfter: (seq, max) => log.after((entry) => entry.seq, seq, max).map(snapshot),
    counts: () => ({ engagements: records.size, requests: log.size }),

    engagements: () => records.toArray(),
    requests: () => log.toArray().map(snapshot),
    ids: () => records.toArray().map((record) => record.engagement.id),
    duplicates: () => [...idCounts].filter(([, count]) => count > 1).map(([id]) => id),
    maxStartsInAnyWindow: () => busiest.most(),
    faults: () => faults,
    setFaults(settingsToApply) {
      const result = applyFaultSettings(faults, settingsToApply)
      if ('problem' in result) throw new TypeError(result.problem)
      faults = result.faults
      return faults
    },
    reset() {
      log.clear()
      records.clear()
      idCounts.clear()
      pacer = createPacer({ limit, windowMs })
      busiest = createBusiestWindow(windowMs)
      faults = settings.initialFaults
    },
  }
}
