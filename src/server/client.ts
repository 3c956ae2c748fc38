/**
 * The client for backend code: engagements from many concurrent calls go through the same
 * Coalescer as the proxy's (packed up to 200, paced, retried, isolated, de-duplicated by id and
 * content), so a backend and the browsers share the key's one limit and one memory. Each call
 * resolves with one result per engagement, and never throws for bad input.
 */
import { LIMITS } from '../contract.js'
import type { Coalescer, Parcel, SubmitResult } from '../core/coalescer/index.js'
import { createConversionCoalescer } from '../proxy/conversion-coalescer.js'
import { resolveClientOptions, type ClientOptions, type ClientSettings } from './options.js'
import { prepare, type ServerTrackInput } from './prepare.js'
import { createRoom } from './room.js'

/** What became of one engagement. */
export type TrackResult =
  | { status: 'accepted' | 'duplicate'; id: string }
  | { status: 'rejected'; id: string; reason: string; field?: string; rule?: string }
  /** Not settled within the `deadline`, or not sent because Conversion refuses the key or the client is closed: send it again later. */
  | { status: 'busy'; id: string; reason: string }

/** The backend client. */
export interface Client {
  /** Sends one engagement; resolves once it is settled (or `busy`). Never throws. */
  track(input: ServerTrackInput): Promise<TrackResult>
  /** Sends many; one result per engagement, in order. Never throws. */
  trackMany(inputs: readonly ServerTrackInput[]): Promise<TrackResult[]>
  /** Engagements held now, and the Coalescer's stats when it is the client's own. */
  stats(): { pending: number; coalescer: ReturnType<Coalescer['stats']> | undefined }
  /** Waits for what was handed over to be settled, then stops; later calls resolve `busy`. */
  close(): Promise<void>
}

/** How long one submit may wait before the client asks again (the engagements stay queued meanwhile). */
const SUBMIT_WAIT_MS = 30_000

/**
 * Creates the client. Nothing is sent until a call comes.
 * @example
 * const conversion = createClient({ apiKey: process.env.CONVERSION_API_KEY! })
 * const result = await conversion.track({ contactEmail: 'john@example.com', type: 'MEETING', name: 'Discovery call' })
 */
export function createClient(options: ClientOptions): Client {
  const settings = resolveClientOptions(options)
  const { clock } = settings
  const own = settings.coalescer ? undefined : createOwnCoalescer(settings)
  const coalescer = settings.coalescer ?? (own as Coalescer)
  const room = createRoom(settings.maxPending, clock)
  const tools = { now: clock.now, randomUUID: settings.randomUUID, sha256: settings.sha256 }
  const running = new Set<Promise<unknown>>()
  let closed = false

  const wait = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))

  /** Submits one chunk until it is settled, or the deadline passes, or sending stops. */
  const settle = async (parcels: Parcel[], deadline: number): Promise<TrackResult[]> => {
    for (;;) {
      const left = deadline - clock.now()
      const result: SubmitResult = await coalescer.submit(parcels, {
        listDuplicates: true,
        deadlineMs: Math.max(1, Math.min(left, SUBMIT_WAIT_MS)),
      })
      if (result.kind === 'settled') return sendUncheckedAlone(parcels, result, (parcel) => settle([parcel], deadline))
      const late = clock.now() + result.retryAfterMs >= deadline
      if (result.kind === 'unavailable' || late) return parcels.map(({ id }) => ({ status: 'busy', id, reason: result.reason }))
      // Busy or throttled: the engagements may be queued still; asking again waits for them.
      await wait(result.retryAfterMs)
    }
  }

  const send = async (inputs: readonly ServerTrackInput[]): Promise<TrackResult[]> => {
    const deadline = clock.now() + settings.deadline
    const prepared = await Promise.all(inputs.map((input) => prepare(input, tools)))
    const results: TrackResult[] = new Array(inputs.length)
    const toSend: { index: number; parcel: Parcel }[] = []
    prepared.forEach((item, index) => {
      if ('problem' in item) results[index] = { status: 'rejected', ...item.problem }
      else toSend.push({ index, parcel: item.parcel })
    })
    for (let from = 0; from < toSend.length; from += LIMITS.batchSize) {
      const chunk = toSend.slice(from, from + LIMITS.batchSize)
      const parcels = chunk.map((item) => item.parcel)
      let answers: TrackResult[]
      if (!(await room.take(parcels.length, deadline))) {
        answers = parcels.map(({ id }) => ({
          status: 'busy',
          id,
          reason: `no room within the deadline: the client holds ${room.used} engagements`,
        }))
      } else {
        try {
          answers = await settle(parcels, deadline)
        } finally {
          room.give(parcels.length)
        }
      }
      chunk.forEach((item, at) => (results[item.index] = answers[at] as TrackResult))
    }
    return results
  }

  const trackMany = (inputs: readonly ServerTrackInput[]): Promise<TrackResult[]> => {
    if (closed)
      return Promise.resolve(inputs.map((input) => ({ status: 'busy' as const, id: idOf(input), reason: 'the client is closed' })))
    const call = send(inputs).catch((error: unknown) =>
      inputs.map((input) => ({ status: 'busy' as const, id: idOf(input), reason: `the client failed: ${String(error)}` })),
    )
    running.add(call)
    void call.finally(() => running.delete(call))
    return call
  }

  /**
   * Calls of one task travel together: a loop of `track()` calls becomes full batches, not one
   * request per call while the pacer still has slots.
   */
  let gathering: { inputs: ServerTrackInput[]; results: Promise<TrackResult[]> } | undefined
  const track = (input: ServerTrackInput): Promise<TrackResult> => {
    if (!gathering) {
      const inputs: ServerTrackInput[] = []
      const results = new Promise<void>((resolve) => clock.setTimeout(resolve, 0)).then(() => {
        gathering = undefined
        return trackMany(inputs)
      })
      gathering = { inputs, results }
    }
    const at = gathering.inputs.push(input) - 1
    return gathering.results.then((results) => results[at] as TrackResult)
  }

  return {
    track,
    trackMany,
    stats: () => ({ pending: room.used, coalescer: own?.stats() }),
    async close() {
      // Calls gathered in this task are handed over first: close() sends what is pending.
      await gathering?.results
      closed = true
      while (running.size > 0) await Promise.all(running)
      own?.close()
    },
  }
}

function createOwnCoalescer(settings: ClientSettings): Coalescer {
  return createConversionCoalescer({
    apiKey: settings.apiKey,
    upstreamUrl: settings.upstreamUrl,
    upstreamTimeout: settings.upstreamTimeout,
    fetch: settings.fetch,
    clock: settings.clock,
    random: settings.random,
    maxRequestsPerSecond: settings.maxRequestsPerSecond,
    retry: settings.retry,
    // Room is the client's to give: the Coalescer holds all it is handed.
    maxBacklog: settings.maxPending,
    clientShare: 1,
    ...(settings.memory ? { memory: settings.memory } : {}),
    ...(settings.pacer ? { pacer: settings.pacer } : {}),
  })
}

const idOf = (input: unknown): string => {
  const id = (input as { id?: unknown } | null)?.id
  return typeof id === 'string' ? id : ''
}

/**
 * The results of a settled answer, where the Coalescer left some engagements unchecked (the
 * isolation budget of the request spent): each is sent again alone, where it is checked.
 */
async function sendUncheckedAlone(
  parcels: Parcel[],
  settled: Extract<SubmitResult, { kind: 'settled' }>,
  alone: (parcel: Parcel) => Promise<TrackResult[]>,
): Promise<TrackResult[]> {
  const results = resultsOf(parcels, settled)
  const unchecked = new Set(parcels.length > 1 ? settled.rejected.filter((item) => item.unchecked).map((item) => item.id) : [])
  if (unchecked.size === 0) return results
  await Promise.all(
    parcels.map(async (parcel, at) => {
      if (unchecked.has(parcel.id) && results[at]?.status === 'rejected') results[at] = (await alone(parcel))[0] as TrackResult
    }),
  )
  return results
}

/**
 * One result per parcel from a settled answer. A repeated id is owned by its first occurrence, so
 * duplicates and rejections are given to the last occurrences of an id.
 */
function resultsOf(parcels: readonly Parcel[], settled: Extract<SubmitResult, { kind: 'settled' }>): TrackResult[] {
  const duplicates = new Map<string, number>()
  for (const id of settled.duplicateIds ?? []) duplicates.set(id, (duplicates.get(id) ?? 0) + 1)
  const rejections = new Map<string, string[]>()
  for (const { id, reason } of settled.rejected) rejections.set(id, [...(rejections.get(id) ?? []), reason])
  const results: TrackResult[] = new Array(parcels.length)
  for (let at = parcels.length - 1; at >= 0; at--) {
    const { id } = parcels[at] as Parcel
    const reason = rejections.get(id)?.pop()
    if (reason !== undefined) results[at] = { status: 'rejected', id, reason }
    else if ((duplicates.get(id) ?? 0) > 0) {
      duplicates.set(id, (duplicates.get(id) as number) - 1)
      results[at] = { status: 'duplicate', id }
    } else results[at] = { status: 'accepted', id }
  }
  return results
}
