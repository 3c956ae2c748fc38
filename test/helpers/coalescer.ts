/**
 * A stage for the Coalescer: a fake Conversion that records every request and flags any id it
 * receives twice, a fake clock, and submits under observation.
 */
import { expect } from 'vitest'
import type { Engagement } from '../../src/contract.js'
import {
  createCoalescer,
  type Coalescer,
  type CoalescerOptions,
  type DeliveryMemory,
  type Parcel,
  type SubmitOptions,
  type SubmitResult,
} from '../../src/core/coalescer/index.js'
import { createMemory } from '../../src/core/memory.js'
import { batchBody } from '../../src/core/parcel.js'
import type { Outcome } from '../../src/core/outcome.js'
import { busiestReceiverWindow, FakeClock, type Flight } from './clock.js'
import { parcelsOf } from './parcels.js'

export const engagement = (id: string): Engagement => ({
  id,
  contactEmail: 'ada@example.com',
  type: 'report-exported',
  createdAt: '2025-08-12T09:21:45Z',
})

/** `count` engagements with ids `prefix-0`, `prefix-1`, ... */
export const engagements = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => engagement(`${prefix}-${i}`))
export const ids = (list: readonly Engagement[]) => list.map((item) => item.id)

/** What the fake upstream answers, or an error it throws (a network error, say). */
export type Answer = Outcome | Error
export type Responder = (ids: string[], request: number, batch: readonly Parcel[]) => Answer

export const ok: Responder = () => ({ kind: 'ok', status: 200 })

/** The Coalescer's window at the defaults: 1,000 ms and a 5 ms margin. */
export const WINDOW_MS = 1_005

/**
 * A stand-in for Conversion that records every request and flags any id it receives while the
 * same id is in flight, or after it acknowledged it: the "never twice" rule, checked at the door.
 */
export class FakeUpstream {
  /** Every request: when it started, what it carried, and when its answer (or error) came back. */
  requests: { at: number; ids: string[]; bytes: number; answeredAt: number | undefined }[] = []
  /** How often each id was acknowledged (answered `ok`). */
  acknowledged = new Map<string, number>()
  problems: string[] = []
  maxConcurrent = 0
  private concurrent = 0
  private inFlight = new Set<string>()

  constructor(
    private clock: FakeClock,
    public respond: Responder = ok,
    public latencyMs: (request: number) => number = () => 100,
  ) {}

  get starts(): number[] {
    return this.requests.map((request) => request.at)
  }

  /**
   * Each request as [start, answer]: Conversion received it at some moment in between. A request
   * still unanswered may arrive at any time after its start.
   */
  get flights(): Flight[] {
    return this.requests.map((request) => [request.at, request.answeredAt ?? Infinity])
  }

  /** The most requests Conversion may have received in one window of `windowMs`, wherever the network put them. */
  busiestWindow(windowMs: number): number {
    return busiestReceiverWindow(this.flights, windowMs)
  }

  send = async (batch: readonly Parcel[]): Promise<Outcome> => {
    const request = this.requests.length
    const batchIds = batch.map((parcel) => parcel.id)
    const bytes = batchBody(batch).length
    const record = { at: this.clock.now(), ids: batchIds, bytes, answeredAt: undefined as number | undefined }
    this.requests.push(record)
    for (const id of batchIds) {
      if (this.inFlight.has(id)) this.problems.push(`${id} sent while already in flight`)
      if (this.acknowledged.has(id)) this.problems.push(`${id} sent after it was acknowledged`)
      this.inFlight.add(id)
    }
    this.maxConcurrent = Math.max(this.maxConcurrent, ++this.concurrent)
    await this.clock.sleep(this.latencyMs(request))
    record.answeredAt = this.clock.now()
    this.concurrent--
    for (const id of batchIds) this.inFlight.delete(id)
    const answer = this.respond(batchIds, request, batch)
    if (answer instanceof Error) throw answer
    if (answer.kind === 'ok') for (const id of batchIds) this.acknowledged.set(id, (this.acknowledged.get(id) ?? 0) + 1)
    return answer
  }
}

/** A submit under observation: its result and when it was answered (ms since the scenario began). */
export interface Watched {
  result: SubmitResult | undefined
  at: number | undefined
}

export interface ScenarioOptions extends Omit<Partial<CoalescerOptions>, 'memory'> {
  respond?: Responder
  latencyMs?: (request: number) => number
  /** Builds the memory of acknowledged ids on the scenario's clock. */
  memory?: ((clock: FakeClock) => DeliveryMemory) | undefined
}

export function scenario(options: ScenarioOptions = {}) {
  const clock = new FakeClock()
  const t0 = clock.now()
  const { respond, latencyMs, memory, ...rest } = options
  const upstream = new FakeUpstream(clock, respond, latencyMs)
  const coalescer = createCoalescer({
    send: upstream.send,
    clock,
    // Every backoff is half its ceiling: predictable delays.
    random: () => 0.5,
    ...(memory ? { memory: memory(clock) } : {}),
    ...rest,
  })
  const watched: Watched[] = []
  /** Submits engagements (or parcels made some other way), from `client` when given. */
  const submit = (list: readonly Engagement[] | readonly Parcel[], deadlineMs?: number, client?: string): Watched => {
    const watch: Watched = { result: undefined, at: undefined }
    watched.push(watch)
    const parcels = list.map((item) => ('json' in item ? item : (parcelsOf([item])[0] as Parcel)))
    const options: SubmitOptions = client === undefined ? { deadlineMs } : { deadlineMs, client }
    void coalescer.submit(parcels, options).then((result) => {
      watch.result = result
      watch.at = clock.now() - t0
    })
    return watch
  }
  const allAnswered = () => watched.every((watch) => watch.result !== undefined)
  /** Nothing held, nothing waiting, no timer left: the Coalescer at rest. */
  const expectIdle = () => {
    const stats = coalescer.stats()
    expect({ backlog: stats.backlog, inFlight: stats.inFlight, held: stats.held, open: stats.openSubmits }).toEqual({
      backlog: 0,
      inFlight: 0,
      held: 0,
      open: 0,
    })
    expect(clock.pending).toBe(0)
    expect(upstream.problems).toEqual([])
  }
  return {
    clock,
    upstream,
    coalescer,
    submit,
    allAnswered,
    expectIdle,
    /** Simulated ms since the scenario began. */
    elapsedMs: () => clock.now() - t0,
    /** Request start times relative to the start of the scenario. */
    starts: () => upstream.starts.map((at) => at - t0),
    /** Runs until every submit is answered and all work is done. */
    settle: () => clock.runUntil(() => allAnswered() && coalescer.stats().held === 0 && clock.pending === 0),
  }
}

/**
 * The starts the pacing rule allows when requests are always waiting, worked out from the answer
 * times alone: the first `limit` start at once; each later one waits until at most `limit - 1`
 * earlier requests were answered less than a window ago (an unanswered one counts too), that is
 * until a window after the `limit`-th latest answer among the earlier requests, and not a moment
 * longer.
 */
export function startsByTheRule(answers: readonly number[], limit: number, windowMs: number): number[] {
  const starts: number[] = []
  answers.forEach((_, k) => {
    if (k < limit) return starts.push(0)
    const latest = answers.slice(0, k).sort((a, b) => b - a)
    starts.push(Math.max(starts[k - 1] as number, (latest[limit - 1] as number) + windowMs))
  })
  return starts
}

/** A browser tracker in miniature: re-sends the same engagements after `busy`/`unavailable` until settled. */
export async function client(coalescer: Coalescer, clock: FakeClock, list: readonly Engagement[], maxAttempts = 100) {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const result = await coalescer.submit(parcelsOf(list))
    if (result.kind === 'settled') return result
    await clock.sleep(result.retryAfterMs)
  }
  throw new Error('the client gave up')
}

/** Deterministic [0, 1) numbers from a seed (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The in-memory memory behind promises that take simulated time, like storage. */
export function slowMemory(clock: FakeClock, recallDelayMs: number, acknowledgeDelayMs: number): DeliveryMemory {
  const inner = createMemory()
  return {
    recall: async (keys, now) => {
      await clock.sleep(recallDelayMs)
      return inner.recall(keys, now)
    },
    acknowledge: async (keys, at) => {
      await clock.sleep(acknowledgeDelayMs)
      inner.acknowledge(keys, at)
    },
    release: () => {},
    size: inner.size,
  }
}

/** An upstream that refuses with 400 any batch holding `poison`, as Conversion does for a malformed item. */
export const refusing =
  (poison: string, then: Responder = ok): Responder =>
  (batchIds, request, batch) => {
    if (!batchIds.includes(poison)) return then(batchIds, request, batch)
    const reason = 'HTTP 400: contactEmail is invalid'
    return { kind: 'refused', status: 400, reason }
  }
