import { describe, expect, it } from 'vitest'
import type { Settlement } from '../src/contract.js'
import { classify, unanswered, type Failure } from '../src/core/outcome.js'
import { BEACON_GRACE_MS, createDeliveryState, WINDOW_MS } from '../src/tracker/delivery-state.js'
import type { DeliveryLimits, Outgoing, Step } from '../src/tracker/delivery-steps.js'
import { createEntry, type OutboxEntry } from '../src/tracker/outbox.js'
import { carriedBytes } from '../src/tracker/request.js'

const T0 = Date.parse('2025-08-12T09:00:00Z')
const DAY_MS = 86_400_000

const LIMITS: DeliveryLimits = {
  flushAt: 5,
  maxBatchSize: 3,
  maxBatchBytes: 262_144,
  maxRequestsPerSecond: 10,
  maxConcurrentRequests: 2,
  maxAge: 7 * DAY_MS,
  requestTimeout: 15_000,
  retry: { baseMs: 1_000, maxMs: 300_000 },
}

/**
 * The most requests a receiver can see in one second, wherever each arrived between its start
 * and its answer: a set of requests can all arrive within one second exactly when the latest
 * start is less than a second after the earliest answer.
 */
function worstSecond(requests: readonly { start: number; answer: number }[]): number {
  return Math.max(
    0,
    ...requests.map(({ answer }) => requests.filter((other) => other.answer >= answer && other.start < answer + 1_000).length),
  )
}

/** `count` sendable entries tracked at `time`, ids `e<first>`, `e<first+1>`… */
function entries(count: number, first = 0, time = T0): OutboxEntry[] {
  return Array.from({ length: count }, (_, i) =>
    createEntry(
      { id: `e${first + i}`, type: 'T', createdAt: '2025-08-12T09:00:00Z', contactEmail: 'john@example.com' },
      undefined,
      time,
      first + i,
    ),
  )
}

const ids = (list: readonly OutboxEntry[]) => list.map((entry) => entry.engagement.id)
const settlement = (accepted: number, rejected: Settlement['rejected'] = []): Settlement => ({ accepted, duplicates: 0, rejected })
const ok = (value: Settlement) => ({ kind: 'ok' as const, settlement: value })
/** The outcome of an answer that is not a success. */
const answerOf = (status: number, retryAfter: string | null = null) => classify({ status, retryAfter, now: T0 }) as Failure

/** The request a step starts; fails the test when it starts none. */
function sent(step: Step): Outgoing {
  if (step.kind !== 'send') throw new Error(`expected a request, got ${JSON.stringify(step)}`)
  return step.outgoing
}

describe('delivery decisions: what goes next', () => {
  it('reads ahead from the oldest, a batch per free slot; sends batches in order, at most maxConcurrentRequests at once; ends when nothing is left', () => {
    const state = createDeliveryState(LIMITS, () => 0.5)
    const rows = entries(8)
    state.begin()
    // Ten slots free: ten batches' worth read at once.
    expect(state.next(T0, true)).toEqual({ kind: 'read', after: undefined, limit: 30 })
    expect(state.read(rows, T0)).toEqual({ remove: [], events: [], wakeInMs: undefined })
    const first = sent(state.next(T0, true))
    expect(ids(first.entries)).toEqual(['e0', 'e1', 'e2'])
    expect(JSON.parse(first.body).batch.map((item: { id: string }) => item.id)).toEqual(['e0', 'e1', 'e2'])
    const second = sent(state.next(T0, true))
    expect(ids(second.entries)).toEqual(['e3', 'e4', 'e5'])
    // Two requests out: the most allowed at once, though more is read.
    expect(state.next(T0, true)).toEqual({ kind: 'wait', ms: Infinity })
    // Answered: the next goes at once, before the first's entries have left the outbox.
    state.answer(first, ok(settlement(3)), T0 + 10, true)
    const third = sent(state.next(T0 + 10, true))
    expect(ids(third.entries)).toEqual(['e6', 'e7'])
    // All read is sent: the next read, after the last entry read, is made while requests are out,
    // a batch for each of the seven slots still free.
    expect(state.next(T0 + 10, true)).toEqual({ kind: 'read', after: rows[7], limit: 21 })
    state.read([], T0 + 10)
    // Nothing past the cursor, requests still out: their answers may change that.
    expect(state.next(T0 + 10, true)).toEqual({ kind: 'wait', ms: Infinity })
    expect(state.stats(T0 + 10).inFlight).toBe(8)
    state.finish(first)
    expect(state.stats(T0 + 10).inFlight).toBe(5)
    for (const outgoing of [second, third]) {
      state.answer(outgoing, ok(settlement(outgoing.entries.length)), T0 + 20, true)
      state.finish(outgoing)
    }
    expect(state.next(T0 + 20, true)).toEqual({ kind: 'read', after: rows[7], limit: 21 })
    state.read([], T0 + 20)
    expect(state.next(T0 + 20, true)).toEqual({ kind: 'done' })
  })

  it('skips what is reserved by a request out when it reads the same rows again', () => {
    const state = createDeliveryState({ ...LIMITS, maxConcurrentRequests: 5 }, () => 0.5)
    const rows = entries(4)
    state.begin()
    state.next(T0, true)
    state.read(rows, T0)
    sent(state.next(T0, true))
    state.begin()
    state.next(T0, true)
    state.read(rows, T0)
    expect(ids(sent(state.next(T0, true)).entries)).toEqual(['e3'])
  })

  it('sends nothing while not allowed (not the leader, offline or opted out), stopped or backing off', () => {
    const state = createDeliveryState(LIMITS, () => 0.5)
    state.begin()
    expect(state.next(T0, false)).toEqual({ kind: 'done' })
    state.restore({ failures: 2, until: T0 + 4_000 })
    expect(state.next(T0, true)).toEqual({ kind: 'done' })
    expect(state.stats(T0).retryAt).toBe(T0 + 4_000)
    expect(state.wakeAfterPass(T0)).toBe(4_000)
    expect(state.next(T0 + 4_000, true)).toEqual({ kind: 'read', after: undefined, limit: 30 })
    state.stop()
    expect(state.next(T0 + 4_000, true)).toEqual({ kind: 'done' })
    expect(state.wakeAfterPass(T0)).toBeUndefined()
  })

  it('paces at the receiver: a request holds its slot until a window after its answer, whatever its latency', () => {
    const state = createDeliveryState({ ...LIMITS, maxBatchSize: 1, maxConcurrentRequests: 100 }, () => 0.5)
    const rows = entries(40)
    state.begin()
    /** Latencies by a fixed pattern: some requests answer at once, some take longer than a second. */
    const latencies = [5, 400, 1_300, 20, 900, 60, 2_500, 10, 700, 30]
    const out: { outgoing: Outgoing; start: number; answer: number }[] = []
    const done: { start: number; answer: number }[] = []
    let now = T0
    let read = 0
    for (let guard = 0; done.length < 40 && guard < 1_000; guard++) {
      const step = state.next(now, true)
      if (step.kind === 'read') {
        state.read(rows.slice(read, read + step.limit), now)
        read += step.limit
      } else if (step.kind === 'send') {
        out.push({ outgoing: step.outgoing, start: now, answer: now + latencies[out.length % latencies.length]! })
      } else {
        // Time moves to the next answer, or to when the pacer said to ask again.
        const nextAnswer = Math.min(...out.map((request) => request.answer))
        now = step.kind === 'wait' ? Math.min(now + step.ms, nextAnswer) : nextAnswer
        for (const request of out.filter((request) => request.answer <= now)) {
          out.splice(out.indexOf(request), 1)
          state.answer(request.outgoing, ok(settlement(1)), request.answer, true)
          state.finish(request.outgoing)
          done.push(request)
        }
      }
    }
    expect(done).toHaveLength(40)
    expect(worstSecond(done)).toBe(10)
    // Paced, not stalled: each slot comes round a window after its answer.
    const ordered = done.map((request) => request.start).sort((a, b) => a - b)
    expect(ordered[10]! - ordered[0]!).toBeGreaterThanOrEqual(WINDOW_MS)
    expect(ordered[10]! - ordered[0]!).toBeLessThan(WINDOW_MS + 100)
  })

  it('waits for an answer when every slot is out, and counts a request not answered yet as holding its slot', () => {
    const state = createDeliveryState({ ...LIMITS, maxBatchSize: 1, maxRequestsPerSecond: 2, maxConcurrentRequests: 100 }, () => 0.5)
    state.begin()
    expect(state.next(T0, true)).toEqual({ kind: 'read', after: undefined, limit: 2 })
    state.read(entries(3), T0)
    const first = sent(state.next(T0, true))
    sent(state.next(T0, true))
    // Ten seconds later, both still out: nothing starts, however long ago they did.
    expect(state.next(T0 + 10_000, true)).toEqual({ kind: 'wait', ms: Infinity })
    expect(state.stats(T0 + 10_000).recentRequests).toEqual([T0 + 15_000 + WINDOW_MS, T0 + 15_000 + WINDOW_MS])
    state.answer(first, ok(settlement(1)), T0 + 10_000, true)
    state.finish(first)
    expect(state.next(T0 + 10_000, true)).toEqual({ kind: 'wait', ms: WINDOW_MS })
    expect(ids(sent(state.next(T0 + 10_000 + WINDOW_MS, true)).entries)).toEqual(['e2'])
  })

  it('shares its slots with the tab that sends next, a request out counted until it must have been abandoned', () => {
    const state = createDeliveryState({ ...LIMITS, maxBatchSize: 1, maxRequestsPerSecond: 3 }, () => 0.5)
    state.begin()
    state.next(T0, true)
    state.read(entries(2), T0)
    const answered = sent(state.next(T0, true))
    sent(state.next(T0 + 5, true))
    state.answer(answered, ok(settlement(1)), T0 + 50, true)
    expect([...state.shared()].sort()).toEqual([0, T0 + 50 + WINDOW_MS, T0 + 5 + LIMITS.requestTimeout + WINDOW_MS].sort())

    const next = createDeliveryState({ ...LIMITS, maxBatchSize: 1, maxRequestsPerSecond: 3 }, () => 0.5)
    next.adopt(state.shared())
    next.begin()
    // One slot free: one batch read ahead.
    expect(next.next(T0 + 60, true)).toEqual({ kind: 'read', after: undefined, limit: 1 })
    next.read(entries(2, 10), T0 + 60)
    sent(next.next(T0 + 60, true))
    // Its one free slot taken, the next comes round a window after the first tab's answer.
    expect(next.next(T0 + 60, true)).toEqual({ kind: 'wait', ms: 50 + WINDOW_MS - 60 })
  })

  it('takes over the latest slots of both tabs, its own unsorted, and keeps a request out in the slot it holds', () => {
    const state = createDeliveryState({ ...LIMITS, maxBatchSize: 1, maxRequestsPerSecond: 2 }, () => 0.5)
    state.begin()
    state.next(T0, true)
    state.read(entries(3), T0)
    const first = sent(state.next(T0, true))
    const second = sent(state.next(T0, true))
    // Answered out of order: its own slots are [5005, 1005] past T0.
    state.answer(second, ok(settlement(1)), T0, true)
    state.answer(first, ok(settlement(1)), T0 + 4_000, true)
    state.adopt([T0 + 3_000, T0 + 4_000])
    expect([...state.shared()].sort()).toEqual([T0 + 4_000, T0 + 5_005])

    // A request out keeps its slot (taken until abandoned), and its answer frees that one.
    const out = sent(state.next(T0 + 5_005, true))
    state.adopt([T0 + 6_000, T0 + 7_000])
    expect([...state.shared()].sort()).toEqual([T0 + 7_000, T0 + 5_005 + LIMITS.requestTimeout + WINDOW_MS])
    state.answer(out, ok(settlement(1)), T0 + 5_100, true)
    expect([...state.shared()].sort()).toEqual([T0 + 5_100 + WINDOW_MS, T0 + 7_000])
  })

  it('reads from the oldest again before ending a pass when a drain was asked for meanwhile', () => {
    const state = createDeliveryState(LIMITS, () => 0.5)
    state.begin()
    state.next(T0, true)
    state.read([], T0)
    state.askAgain()
    expect(state.next(T0, true)).toEqual({ kind: 'read', after: undefined, limit: 30 })
    state.read([], T0)
    expect(state.next(T0, true)).toEqual({ kind: 'done' })
    expect(state.owed).toBe(false)
    // Asked for while the pass was ending blocked: owed, so the driver drains again.
    state.askAgain()
    expect(state.next(T0, false)).toEqual({ kind: 'done' })
    expect(state.owed).toBe(true)
  })
})

describe('delivery decisions: what a read finds', () => {
  it('drops what is older than maxAge and says so', () => {
    const state = createDeliveryState({ ...LIMITS, maxAge: 60_000 }, () => 0.5)
    const old = entries(2, 0, T0)
    const fresh = entries(1, 2, T0 + 50_000)
    const effects = state.read([...old, ...fresh], T0 + 61_000)
    expect(effects.remove).toEqual(old)
    expect(effects.events).toEqual([{ type: 'dropped', ids: ['e0', 'e1'], reason: 'expired' }])
    expect(ids(sent(state.next(T0 + 61_000, true)).entries)).toEqual(['e2'])
  })

  it('leaves what a beacon carried just now, and wakes when its grace is over', () => {
    const state = createDeliveryState(LIMITS, () => 0.5)
    const rows = entries(2)
    rows[0]!.beaconAt = T0
    const effects = state.read(rows, T0 + 4_000)
    expect(effects.wakeInMs).toBe(BEACON_GRACE_MS - 4_000)
    expect(ids(sent(state.next(T0 + 4_000, true)).entries)).toEqual(['e1'])
  })
})

describe('delivery decisions: what an answer does', () => {
  const started = (limits: DeliveryLimits, rows: OutboxEntry[], random = () => 0.5) => {
    const state = createDeliveryState(limits, random)
    state.begin()
    state.next(T0, true)
    state.read(rows, T0)
    return { state, outgoing: sent(state.next(T0, true)) }
  }

  it('removes what the proxy settled, reports what it rejected, and forgets a backoff', () => {
    const { state, outgoing } = started(LIMITS, entries(3))
    state.restore({ failures: 3, until: T0 - 1 })
    const effects = state.answer(outgoing, ok(settlement(2, [{ id: 'e1', reason: 'type: not allowed' }])), T0, true)
    expect(effects).toEqual({
      remove: outgoing.entries,
      saveRetry: { failures: 0, until: 0 },
      events: [
        { type: 'sent', ids: ['e0', 'e2'], accepted: 2, duplicates: 0 },
        { type: 'rejected', id: 'e1', reason: 'type: not allowed' },
      ],
    })
    // No backoff left to forget: nothing to store.
    expect(state.answer(outgoing, ok(settlement(3)), T0, true).saveRetry).toBeUndefined()
  })

  it('sends again alone, still reserved, each engagement the proxy left unchecked; one that was alone is rejected for good', () => {
    const { state, outgoing } = started({ ...LIMITS, maxConcurrentRequests: 5 }, entries(3))
    const unchecked = (id: string) => ({ id, reason: 'the isolation budget of its request was spent', unchecked: true as const })
    const effects = state.answer(outgoing, ok(settlement(1, [{ id: 'e0', reason: 'HTTP 400: refused' }, unchecked('e2')])), T0, true)
    expect(effects.remove?.map((entry) => entry.engagement.id)).toEqual(['e0', 'e1'])
    expect(effects.events).toEqual([
      { type: 'sent', ids: ['e1'], accepted: 1, duplicates: 0 },
      { type: 'rejected', id: 'e0', reason: 'HTTP 400: refused' },
    ])
    state.finish(outgoing)
    expect(state.stats(T0).inFlight).toBe(1)
    const alone = sent(state.next(T0, true))
    expect(ids(alone.entries)).toEqual(['e2'])
    // Alone, it was checked: an unchecked answer now is the proxy's last word.
    expect(state.answer(alone, ok(settlement(0, [unchecked('e2')])), T0, true).events).toEqual([
      { type: 'sent', ids: [], accepted: 0, duplicates: 0 },
      { type: 'rejected', id: 'e2', reason: 'the isolation budget of its request was spent' },
    ])
    state.finish(alone)
    expect(state.stats(T0).inFlight).toBe(0)
  })

  it('backs off with full jitter on a failure, doubling per failure in a row, and reads from the oldest after', () => {
    const { state, outgoing } = started(LIMITS, entries(3), () => 0.5)
    const first = state.answer(outgoing, answerOf(500), T0, true)
    expect(first).toEqual({
      saveRetry: { failures: 1, until: T0 + 500 },
      events: [{ type: 'retried', ids: ['e0', 'e1', 'e2'], failures: 1, delayMs: 500, reason: 'HTTP 500' }],
      wakeInMs: 500,
    })
    state.finish(outgoing)
    expect(state.next(T0 + 100, true)).toEqual({ kind: 'done' })
    expect(state.next(T0 + 500, true)).toEqual({ kind: 'read', after: undefined, limit: 27 })
    const second = state.answer(outgoing, unanswered('network error'), T0 + 500, true)
    expect(second.events).toEqual([{ type: 'retried', ids: ['e0', 'e1', 'e2'], failures: 2, delayMs: 1_000, reason: 'network error' }])
  })

  it('obeys Retry-After, and spends no attempt while offline', () => {
    const { state, outgoing } = started(LIMITS, entries(1))
    expect(state.answer(outgoing, answerOf(429, '60'), T0, true)).toMatchObject({
      saveRetry: { failures: 1, until: T0 + 60_000 },
      wakeInMs: 60_000,
    })
    expect(state.answer(outgoing, unanswered('network error'), T0, false)).toEqual({
      events: [{ type: 'retried', ids: ['e0'], failures: 1, delayMs: 0, reason: 'offline (network error)' }],
    })
  })

  it('splits a refused batch: its halves go before anything newer and stay reserved; one alone is rejected', () => {
    const { state, outgoing } = started({ ...LIMITS, maxConcurrentRequests: 5 }, entries(3))
    expect(state.answer(outgoing, answerOf(400), T0, true)).toEqual({})
    state.finish(outgoing)
    expect(state.stats(T0).inFlight).toBe(3)
    const left = sent(state.next(T0, true))
    expect(ids(left.entries)).toEqual(['e0', 'e1'])
    const right = sent(state.next(T0, true))
    expect(ids(right.entries)).toEqual(['e2'])
    expect(state.answer(right, answerOf(400), T0, true)).toEqual({
      remove: right.entries,
      events: [{ type: 'rejected', id: 'e2', reason: 'HTTP 400' }],
    })
    state.finish(right)
    expect(state.stats(T0).inFlight).toBe(2)
  })

  it('sends smaller bodies after a 413: at most half the refused one', () => {
    /** Entries of about 20,000 bytes each. */
    const sized = (list: OutboxEntry[]) =>
      list.map((entry) => ({ ...entry, engagement: { ...entry.engagement, data: { blob: 'x'.repeat(19_890) } } }))
    const { state, outgoing } = started({ ...LIMITS, maxBatchBytes: 100_000, maxConcurrentRequests: 5 }, sized(entries(3)))
    expect(outgoing.entries).toHaveLength(3)
    state.answer({ ...outgoing, body: 'x'.repeat(60_000) }, answerOf(413), T0, true)
    state.finish(outgoing)
    // The halves go as they are; what is read from now on fits 30,000 bytes: one entry of 20,000.
    for (const half of [sent(state.next(T0, true)), sent(state.next(T0, true))]) {
      state.answer(half, ok(settlement(half.entries.length)), T0, true)
      state.finish(half)
    }
    state.begin()
    state.next(T0, true)
    state.read(sized(entries(2, 10)), T0)
    expect(ids(sent(state.next(T0, true)).entries)).toEqual(['e10'])
  })

  it('halts on 401/403/404/405: sends nothing more, says why, keeps the entries', () => {
    const { state, outgoing } = started(LIMITS, entries(2))
    const effects = state.answer(outgoing, answerOf(403), T0, true)
    expect(effects.remove).toBeUndefined()
    expect(effects.events?.[0]).toMatchObject({ type: 'error', error: { code: 'halted' } })
    expect(state.next(T0, true)).toEqual({ kind: 'done' })
    expect(state.stats(T0).halted).toBe('HTTP 403')
    expect([...state.beacons(entries(2), T0)]).toEqual([])
  })
})

describe('delivery decisions: flushAt and beacons', () => {
  it('sends at once from flushAt on, counting what was queued since the pass began', () => {
    const state = createDeliveryState(LIMITS, () => 0.5)
    expect(state.stored(3)).toBe(false)
    expect(state.stored(2)).toBe(true)
    state.begin()
    expect(state.stored(4)).toBe(false)
  })

  it('cuts beacons under the beacon limit, leaves what a beacon carried just now, and paces them', () => {
    const rows = entries(10).map((entry) => ({ ...entry, engagement: { ...entry.engagement, data: { blob: 'x'.repeat(19_890) } } }))
    expect(carriedBytes(rows[0]!)).toBe(20_000)
    rows[0]!.beaconAt = T0 - 1_000
    const chunks = [...createDeliveryState({ ...LIMITS, maxBatchSize: 200 }, () => 0.5).beacons(rows, T0)]
    expect(chunks.map(ids)).toEqual([['e1', 'e2'], ['e3', 'e4'], ['e5', 'e6'], ['e7', 'e8'], ['e9']])
    // Each beacon takes a pacer slot: with two, two beacons leave, and none is drawn without a slot.
    const state = createDeliveryState({ ...LIMITS, maxBatchSize: 200, maxRequestsPerSecond: 2 }, () => 0.5)
    expect([...state.beacons(rows, T0)].map(ids)).toEqual([
      ['e1', 'e2'],
      ['e3', 'e4'],
    ])
    // A beacon brings no answer: its slot counts until it must have arrived, and a window more.
    expect([...state.beacons(rows, T0 + LIMITS.requestTimeout + WINDOW_MS - 1)]).toEqual([])
    expect([...state.beacons(rows, T0 + LIMITS.requestTimeout + WINDOW_MS)]).toHaveLength(2)
  })
})
