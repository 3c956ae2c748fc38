import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Engagement } from '../src/contract.js'
import { createCoalescer, type SubmitResult } from '../src/core/coalescer/index.js'
import { createMemory } from '../src/core/memory.js'
import { FakeClock } from './helpers/clock.js'
import {
  client,
  engagement,
  engagements,
  FakeUpstream,
  ids,
  refusing,
  scenario,
  seededRandom,
  slowMemory,
  startsByTheRule,
  WINDOW_MS,
  type Responder,
  type Watched,
} from './helpers/coalescer.js'
import { parcelsOf } from './helpers/parcels.js'

describe('coalescer: packing', () => {
  it('packs submits FIFO into batches of up to 200 and answers each only when all of its engagements are settled', async () => {
    const { submit, settle, starts, upstream, expectIdle } = scenario({ maxRequestsPerSecond: 1 })
    const a = engagements('a', 50)
    const b = engagements('b', 150)
    const c = engagements('c', 100)
    const d = engagements('d', 30)
    const answers = [a, b, c, d].map((list) => submit(list))
    await settle()

    // One slot: each start waits a window (1,005 ms) after the previous answer (100 ms latency).
    expect(starts()).toEqual([0, 100 + 1005, 1205 + 1005])
    expect(upstream.requests.map((request) => request.ids)).toEqual([
      ids(a),
      [...ids(b), ...ids(c).slice(0, 50)],
      [...ids(c).slice(50), ...ids(d)],
    ])
    // `c` rode in two batches: it is answered after the second one, not the first.
    expect(answers.map((answer) => answer.at)).toEqual([100, 1205, 2310, 2310])
    expect(answers.map((answer) => answer.result)).toEqual(
      [50, 150, 100, 30].map((accepted) => ({ kind: 'settled', accepted, duplicates: 0, rejected: [] })),
    )
    expectIdle()
  })

  it('sends right away when the pacer allows, without waiting to fill a batch', async () => {
    const { submit, settle, starts, expectIdle } = scenario()
    submit(engagements('a', 3))
    submit(engagements('b', 2))
    await settle()
    expect(starts()).toEqual([0, 0])
    expectIdle()
  })
})

describe('coalescer: pacing', () => {
  it('never lets Conversion receive more than 10 requests in any sliding window, however slow or uneven the answers', async () => {
    // Latencies from 0 to 3 s, some far slower than their neighbours, so answers come back out of order.
    const latencies = [2_500, 5, 40, 900, 0, 300, 1_700, 5, 120, 60, 3_000, 15, 450]
    const { submit, settle, starts, upstream, coalescer, expectIdle } = scenario({
      latencyMs: (request) => latencies[request % latencies.length] as number,
      deadlineMs: 60_000,
    })
    for (let i = 0; i < 60; i++) submit(engagements(`s${i}`, 200))
    await settle()

    const times = starts()
    const answers = upstream.requests.map((request) => (request.answeredAt as number) - upstream.requests[0]!.at)
    // The first ten leave at once; the eleventh waits a window after the first answer (request 4, answered at once).
    expect(times.slice(0, 11)).toEqual([...Array<number>(10).fill(0), 0 + WINDOW_MS])
    // Every start is exactly when the rule allows it: no earlier (the limit), no later (no time wasted).
    expect(times).toEqual(startsByTheRule(answers, 10, WINDOW_MS))
    // At the receiver, wherever each request arrived between its start and its answer.
    expect(upstream.busiestWindow(1000)).toBe(10)
    expect(upstream.busiestWindow(WINDOW_MS)).toBe(10)
    // A slot is held until its answer: never more than 10 requests await theirs.
    expect(upstream.maxConcurrent).toBe(10)
    expect(coalescer.stats().totals).toMatchObject({ accepted: 12_000, requests: 60, busy: 0 })
    expect(upstream.acknowledged.size).toBe(12_000)
    expectIdle()
  })

  it('holds a lower configured rate and reports the window in stats', async () => {
    const { submit, clock, starts, upstream, coalescer, settle, expectIdle } = scenario({ maxRequestsPerSecond: 3, batchSize: 10 })
    submit(engagements('a', 100))
    await clock.advance(0)
    // All three slots await their answers: the next start depends on an answer, not on time.
    expect(coalescer.stats().window).toEqual({ starts: 3, limit: 3, windowMs: WINDOW_MS, nextStartInMs: Infinity })
    expect(coalescer.stats()).toMatchObject({ backlog: 70, inFlight: 30, requestsInFlight: 3 })
    // The answers come at 100 ms: the slots are free a window later.
    await clock.advance(100)
    expect(coalescer.stats().window).toEqual({ starts: 3, limit: 3, windowMs: WINDOW_MS, nextStartInMs: WINDOW_MS })
    expect(coalescer.stats()).toMatchObject({ backlog: 70, inFlight: 0, requestsInFlight: 0 })
    await settle()
    expect(starts()).toEqual([0, 0, 0, 1105, 1105, 1105, 2210, 2210, 2210, 3315])
    expect(upstream.busiestWindow(WINDOW_MS)).toBe(3)
    expectIdle()
  })
})

describe('coalescer: throughput', () => {
  /** Full batches per second when a slot is free again a window after each answer. */
  const rate = (latencyMs: number) => (10 * 200) / ((WINDOW_MS + latencyMs) / 1000)
  /** What the pacer allows at best: 10 full batches per window, about 1,990/s. */
  const ceiling = (10 * 200) / (WINDOW_MS / 1000)

  /**
   * 20,000 engagements as 100 client requests of 200, one every 50 ms: twice what can be sent.
   * Each client request fills one batch, so request k carries client request k.
   */
  async function steadyDemand(latencyMs: number) {
    const run = scenario({ latencyMs: () => latencyMs })
    const answers: Watched[] = []
    for (let i = 0; i < 100; i++) run.clock.setTimeout(() => answers.push(run.submit(engagements(`c${i}`, 200))), i * 50)
    await run.settle()

    const starts = run.starts()
    // The first ten leave as their client requests come (50 ms apart); each later one takes the
    // slot of the request ten before it, a window after that request's answer.
    expect(starts).toEqual(Array.from({ length: 100 }, (_, k) => (k % 10) * 50 + Math.floor(k / 10) * (WINDOW_MS + latencyMs)))
    // Nothing lost, nothing doubled, every client answered `settled`.
    expect(answers.every((answer) => answer.result?.kind === 'settled')).toBe(true)
    expect(run.upstream.acknowledged.size).toBe(20_000)
    expect([...run.upstream.acknowledged.values()].every((times) => times === 1)).toBe(true)
    expect(run.coalescer.stats().totals).toMatchObject({ requests: 100, accepted: 20_000, duplicates: 0, busy: 0 })
    expect(run.upstream.busiestWindow(1000)).toBeLessThanOrEqual(10)
    expect(run.upstream.busiestWindow(WINDOW_MS)).toBeLessThanOrEqual(10)
    run.expectIdle()

    const lastAnswerMs = Math.max(...answers.map((answer) => answer.at as number))
    return {
      /** Over the whole run, to the last answer. */
      perSecond: 20_000 / (lastAnswerMs / 1000),
      /** Once every slot is in use: 90 full batches from the 10th start to the 100th. */
      steadyPerSecond: (200 * 90) / (((starts[99] as number) - (starts[9] as number)) / 1000),
      maxConcurrent: run.upstream.maxConcurrent,
    }
  }

  it('approaches the ceiling of 10 × 200 per window (about 1,990/s) when upstream answers fast', async () => {
    const { perSecond, steadyPerSecond } = await steadyDemand(5)
    expect(perSecond).toBeGreaterThanOrEqual(0.95 * ceiling)
    expect(steadyPerSecond).toBeGreaterThanOrEqual(0.95 * ceiling)
    // 1,980/s: 10 batches per 1,010 ms, and never more than the ceiling.
    expect(steadyPerSecond).toBeCloseTo(rate(5), 6)
    expect(steadyPerSecond).toBeLessThanOrEqual(ceiling)
  })

  it('pays for certainty at the receiver with latency: 10 × 200 per (window + latency), about 1,530/s at 300 ms', async () => {
    const { perSecond, steadyPerSecond, maxConcurrent } = await steadyDemand(300)
    expect(perSecond).toBeGreaterThanOrEqual(0.95 * rate(300))
    expect(steadyPerSecond).toBeGreaterThanOrEqual(0.95 * rate(300))
    // Exactly the formula: 10 batches per 1,305 ms.
    expect(steadyPerSecond).toBeCloseTo(rate(300), 6)
    // Several requests await their answers at once, never more than the slots.
    expect(maxConcurrent).toBeGreaterThan(1)
    expect(maxConcurrent).toBeLessThanOrEqual(10)
  })

  it('sheds a burst beyond its backlog, and clients that re-send still finish near the rate latency allows', async () => {
    const { clock, coalescer, upstream, elapsedMs, expectIdle } = scenario({ latencyMs: () => 300 })
    const results: SubmitResult[] = []
    for (let i = 0; i < 100; i++) void client(coalescer, clock, engagements(`c${i}`, 200)).then((result) => results.push(result))
    await clock.runUntil(() => results.length === 100)

    const perSecond = 20_000 / (elapsedMs() / 1000)
    expect(coalescer.stats().totals.busy).toBeGreaterThan(0)
    expect(upstream.acknowledged.size).toBe(20_000)
    expect([...upstream.acknowledged.values()].every((times) => times === 1)).toBe(true)
    expect(perSecond).toBeGreaterThanOrEqual(0.95 * rate(300))
    expect(upstream.busiestWindow(1000)).toBeLessThanOrEqual(10)
    expect(upstream.busiestWindow(WINDOW_MS)).toBeLessThanOrEqual(10)
    await clock.runUntil(() => coalescer.stats().held === 0)
    expectIdle()
  })
})

describe('coalescer: de-duplication', () => {
  it('answers ids acknowledged earlier as duplicates without sending them', async () => {
    const remembering = (clock: FakeClock) => {
      const memory = createMemory()
      memory.acknowledge(parcelsOf([engagement('x-0'), engagement('x-1')]), clock.now() - 3_600_000)
      return memory
    }
    const { submit, settle, upstream, coalescer, expectIdle } = scenario({ memory: remembering })
    const answer = submit([engagement('x-0'), engagement('x-1'), engagement('y')])
    await settle()
    expect(answer.result).toEqual({ kind: 'settled', accepted: 1, duplicates: 2, rejected: [] })
    expect(upstream.requests.map((request) => request.ids)).toEqual([['y']])
    expect(coalescer.stats().remembered).toBe(3)
    expectIdle()
  })

  it('answers everything as duplicates when all of it was acknowledged, at once', async () => {
    const { submit, settle, upstream, clock } = scenario()
    submit(engagements('a', 5))
    await settle()
    const again = submit(engagements('a', 5))
    await clock.advance(0)
    expect(again.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 5, rejected: [] })
    expect(upstream.requests).toHaveLength(1)
  })

  it('does not send an id pending for another submit: the second one waits for the first outcome', async () => {
    const { submit, clock, settle, upstream, expectIdle } = scenario({ maxRequestsPerSecond: 1, latencyMs: () => 500 })
    const first = submit([engagement('p'), engagement('q')])
    await clock.advance(100)
    const second = submit([engagement('q'), engagement('r')])
    await settle()
    expect(upstream.requests.map((request) => request.ids)).toEqual([['p', 'q'], ['r']])
    // `r` takes the only slot a window after the first answer (500 ms), and is answered 500 ms later.
    expect(first).toEqual({ at: 500, result: { kind: 'settled', accepted: 2, duplicates: 0, rejected: [] } })
    expect(second).toEqual({ at: 500 + 1005 + 500, result: { kind: 'settled', accepted: 1, duplicates: 1, rejected: [] } })
    expectIdle()
  })

  it('gives a submit waiting on a rejected id the same rejection', async () => {
    const { submit, settle, upstream, expectIdle } = scenario({ respond: refusing('bad') })
    const first = submit([engagement('bad')])
    const second = submit([engagement('bad'), engagement('good')])
    await settle()
    const rejected = [{ id: 'bad', reason: 'HTTP 400: contactEmail is invalid' }]
    expect(first.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 0, rejected })
    expect(second.result).toEqual({ kind: 'settled', accepted: 1, duplicates: 0, rejected })
    expect(upstream.requests.map((request) => request.ids)).toEqual([['bad'], ['good']])
    expectIdle()
  })

  it('answers a refused engagement sent again with the same rejection, without bisecting again', async () => {
    const { submit, settle, upstream, coalescer, expectIdle } = scenario({ respond: refusing('e-2') })
    submit(engagements('e', 4))
    await settle()
    const requestsBefore = upstream.requests.length
    const again = submit([engagement('e-2'), engagement('f')])
    await settle()
    expect(again.result).toEqual({
      kind: 'settled',
      accepted: 1,
      duplicates: 0,
      rejected: [{ id: 'e-2', reason: 'HTTP 400: contactEmail is invalid' }],
    })
    expect(upstream.requests.slice(requestsBefore).map((request) => request.ids)).toEqual([['f']])
    expect(coalescer.stats().refusals).toBe(1)
    expectIdle()
  })

  it('sends an id repeated inside one submit once', async () => {
    const { submit, settle, upstream, expectIdle } = scenario()
    const answer = submit([engagement('d'), engagement('e'), engagement('d')])
    await settle()
    expect(upstream.requests.map((request) => request.ids)).toEqual([['d', 'e']])
    expect(answer.result).toEqual({ kind: 'settled', accepted: 2, duplicates: 1, rejected: [] })
    expectIdle()
  })

  it('does not send an id again while a slow memory is still storing its acknowledgement', async () => {
    // Lookups are instant, writes take 500 ms: the re-send arrives between the answer and the write.
    const { submit, clock, settle, upstream, expectIdle } = scenario({ memory: (time) => slowMemory(time, 0, 500) })
    const first = submit([engagement('x')])
    await clock.advance(300)
    expect(first.result).toMatchObject({ accepted: 1 })
    const resent = submit([engagement('x')])
    await settle()
    expect(resent.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 1, rejected: [] })
    expect(upstream.requests).toHaveLength(1)
    expectIdle()
  })

  it('never sends an id twice across any interleaving of submits, failures, timing and memory speed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          submits: fc.array(
            fc.record({
              delayMs: fc.integer({ min: 0, max: 3_000 }),
              ids: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 25 }),
            }),
            { minLength: 1, maxLength: 25 },
          ),
          // One roll per upstream request, used in turn: ok, 429, 500, network error, 401.
          rolls: fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 50 }),
          latencies: fc.array(fc.integer({ min: 0, max: 1_500 }), { minLength: 1, maxLength: 20 }),
          poison: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
          batchSize: fc.integer({ min: 1, max: 8 }),
          maxRequestsPerSecond: fc.integer({ min: 1, max: 10 }),
          // Short deadlines make clients re-send ids that are still pending (a deadline shorter
          // than a memory lookup could never settle anything, so it stays above 300 ms).
          deadlineMs: fc.integer({ min: 400, max: 8_000 }),
          // Storage-like memory: how long a lookup and a write take (undefined: the in-memory default).
          memoryDelays: fc.option(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 1_000 })), { nil: undefined }),
          seed: fc.integer(),
        }),
        async (plan) => {
          const clock = new FakeClock()
          const poison = plan.poison === undefined ? undefined : `id-${plan.poison}`
          // The storm passes after 60 requests, so that every client can finish.
          const byRoll: Responder = (_, request) => {
            const roll = request < 60 ? (plan.rolls[request % plan.rolls.length] as number) : 99
            if (roll < 15) return { kind: 'retry', status: 429, reason: 'HTTP 429', afterMs: roll * 100 }
            if (roll < 30) return { kind: 'retry', status: 429, reason: 'HTTP 429' }
            if (roll < 45) return { kind: 'retry', status: 500, reason: 'HTTP 500' }
            if (roll < 52) return new TypeError('fetch failed')
            if (roll < 54) return { kind: 'halt', status: 401, reason: 'HTTP 401: Invalid API key' }
            return { kind: 'ok', status: 200 }
          }
          const upstream = new FakeUpstream(
            clock,
            poison ? refusing(poison, byRoll) : byRoll,
            (request) => plan.latencies[request % plan.latencies.length] as number,
          )
          const memory = plan.memoryDelays && slowMemory(clock, ...plan.memoryDelays)
          const coalescer = createCoalescer({
            send: upstream.send,
            clock,
            random: seededRandom(plan.seed),
            batchSize: plan.batchSize,
            maxRequestsPerSecond: plan.maxRequestsPerSecond,
            deadlineMs: plan.deadlineMs,
            ...(memory ? { memory } : {}),
          })
          const outcomes: { list: Engagement[]; result: SubmitResult }[] = []
          let failed: unknown
          for (const { delayMs, ids: numbers } of plan.submits) {
            const list = numbers.map((n) => engagement(`id-${n}`))
            clock.setTimeout(() => {
              client(coalescer, clock, list, 1_000).then(
                (result) => outcomes.push({ list, result }),
                (error: unknown) => (failed = error),
              )
            }, delayMs)
          }
          await clock.runUntil(
            () => failed !== undefined || (outcomes.length === plan.submits.length && clock.pending === 0),
            24 * 3_600_000,
          )

          expect(failed).toBeUndefined()
          expect(upstream.problems).toEqual([])
          const sent = new Set(plan.submits.flatMap((item) => item.ids.map((n) => `id-${n}`)))
          for (const id of sent) expect(upstream.acknowledged.get(id)).toBe(id === poison ? undefined : 1)
          for (const { list, result } of outcomes) {
            if (result.kind !== 'settled') throw new Error('a client ended unsettled')
            expect(result.accepted + result.duplicates + result.rejected.length).toBe(list.length)
            expect(result.rejected.every((item) => item.id === poison)).toBe(true)
          }
          const acceptedAnswers = outcomes.reduce((sum, { result }) => sum + (result.kind === 'settled' ? result.accepted : 0), 0)
          expect(acceptedAnswers).toBeLessThanOrEqual(upstream.acknowledged.size)
          // At the receiver: each request may have arrived anywhere between its start and its answer.
          expect(upstream.busiestWindow(1000)).toBeLessThanOrEqual(plan.maxRequestsPerSecond)
          expect(upstream.busiestWindow(WINDOW_MS)).toBeLessThanOrEqual(plan.maxRequestsPerSecond)
          expect(coalescer.stats()).toMatchObject({ backlog: 0, inFlight: 0, held: 0, openSubmits: 0 })
        },
      ),
      { numRuns: 150 },
    )
  })
})

describe('coalescer: failures', () => {
  it('obeys Retry-After, and no request at all starts before the backoff ends', async () => {
    const respond: Responder = (_, request) =>
      request === 0 ? { kind: 'retry', status: 429, reason: 'HTTP 429', afterMs: 3_000 } : { kind: 'ok', status: 200 }
    const { submit, clock, settle, starts, upstream, coalescer, expectIdle } = scenario({ respond })
    const first = submit(engagements('a', 200))
    await clock.advance(200)
    expect(coalescer.stats()).toMatchObject({ backoffMs: 2_900, failures: 1 })
    const second = submit(engagements('b', 200))
    await settle()
    expect(starts()).toEqual([0, 3_100, 3_100])
    expect(upstream.requests[1]?.ids).toEqual(ids(engagements('a', 200)))
    expect([first.result, second.result]).toEqual([
      { kind: 'settled', accepted: 200, duplicates: 0, rejected: [] },
      { kind: 'settled', accepted: 200, duplicates: 0, rejected: [] },
    ])
    expectIdle()
  })

  it('backs off exponentially with full jitter when no Retry-After is given', async () => {
    const respond: Responder = (_, request) =>
      request < 3 ? { kind: 'retry', status: 500, reason: 'HTTP 500' } : { kind: 'ok', status: 200 }
    // random() = 0.5: half of the ceiling, which doubles per failure from 1,000 ms.
    const { submit, settle, starts, coalescer, expectIdle } = scenario({ respond })
    const answer = submit(engagements('a', 10))
    await settle()
    expect(starts()).toEqual([0, 100 + 500, 700 + 1_000, 1_800 + 2_000])
    expect(answer.result).toMatchObject({ accepted: 10 })
    expect(coalescer.stats()).toMatchObject({ failures: 0, totals: { retries: 3, requests: 4 } })
    expectIdle()
  })

  it('counts requests that fail together as one failure', async () => {
    // Ten requests leave together and all meet the same outage: the exponent rises once.
    const respond: Responder = (_, request) =>
      request < 10 ? { kind: 'retry', status: 503, reason: 'HTTP 503' } : { kind: 'ok', status: 200 }
    const { submit, clock, coalescer, settle, expectIdle } = scenario({ respond })
    for (let i = 0; i < 10; i++) submit(engagements(`s${i}`, 200))
    await clock.advance(100)
    expect(coalescer.stats()).toMatchObject({ failures: 1, backoffMs: 500 })
    await settle()
    expectIdle()
  })

  it('delivers everything exactly once through a storm of 429s, 50% of 500s and network errors', async () => {
    const random = seededRandom(42)
    const respond: Responder = (_, request) => {
      if (request < 10) return { kind: 'retry', status: 429, reason: 'HTTP 429' }
      const roll = random()
      if (roll < 0.5) return { kind: 'retry', status: 500, reason: 'HTTP 500' }
      if (roll < 0.6) return new TypeError('fetch failed')
      return { kind: 'ok', status: 200 }
    }
    const { clock, coalescer, upstream, expectIdle } = scenario({ respond, random: seededRandom(7), latencyMs: () => 200 })
    const results: SubmitResult[] = []
    for (let i = 0; i < 30; i++) void client(coalescer, clock, engagements(`c${i}`, 200)).then((result) => results.push(result))
    await clock.runUntil(() => results.length === 30 && clock.pending === 0)

    expect(upstream.acknowledged.size).toBe(6_000)
    expect([...upstream.acknowledged.values()].every((times) => times === 1)).toBe(true)
    expect(coalescer.stats().totals.retries).toBeGreaterThan(10)
    expect(upstream.busiestWindow(1000)).toBeLessThanOrEqual(10)
    expect(upstream.busiestWindow(WINDOW_MS)).toBeLessThanOrEqual(10)
    expectIdle()
  })
})

describe('coalescer: bisection', () => {
  it('halves refused batches (paced) until the poisoned engagement is rejected alone, and delivers the rest', async () => {
    const { submit, settle, upstream, expectIdle } = scenario({ respond: refusing('e-5'), maxRequestsPerSecond: 2 })
    const answer = submit(engagements('e', 8))
    await settle()
    expect(upstream.requests.map((request) => request.ids.map((id) => Number(id.slice(2))))).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      // Taken: the other half holds what was refused, so it is halved without a request of its own.
      [4, 5],
      // Halves go first, ahead of anything queued after them.
      [4],
      [5],
      [6, 7],
    ])
    expect(upstream.busiestWindow(WINDOW_MS)).toBe(2)
    expect(answer.result).toEqual({
      kind: 'settled',
      accepted: 7,
      duplicates: 0,
      rejected: [{ id: 'e-5', reason: 'HTTP 400: contactEmail is invalid' }],
    })
    expect(upstream.acknowledged.size).toBe(7)
    expectIdle()
  })
})

describe('coalescer: halt', () => {
  it('stops on 401: every pending submit is unavailable, later ones too until the cool-down ends', async () => {
    let keyValid = false
    const respond: Responder = (_, request) => {
      // The sender holds the key; whatever it throws must not reach a client.
      if (request === 0) return new Error('connect ECONNRESET while sending X-API-Key: sk_test_fake_do_not_leak')
      return keyValid ? { kind: 'ok', status: 200 } : { kind: 'halt', status: 401, reason: 'HTTP 401: Invalid API key' }
    }
    const { submit, clock, settle, upstream, coalescer, expectIdle } = scenario({ respond, maxRequestsPerSecond: 1 })
    const pending = [submit(engagements('a', 200)), submit(engagements('b', 200)), submit(engagements('c', 200))]
    // The network error (at 100 ms) backs off 500 ms, but the only slot is free a window after that
    // answer: the retry at 1,105 ms meets the 401 at 1,205 ms.
    await clock.advance(1_204)
    expect(upstream.requests).toHaveLength(2)
    expect(pending.every((answer) => answer.result === undefined)).toBe(true)
    await clock.advance(1)
    expect(upstream.requests).toHaveLength(2)
    for (const answer of pending) {
      expect(answer.result).toEqual({
        kind: 'unavailable',
        retryAfterMs: 60_000,
        reason: expect.stringContaining('HTTP 401: Invalid API key'),
      })
      expect(JSON.stringify(answer.result)).not.toContain('sk_test_fake')
    }
    expect(coalescer.stats()).toMatchObject({ held: 0, backlog: 0, halted: { reason: 'HTTP 401: Invalid API key', retryAfterMs: 60_000 } })
    expect(clock.pending).toBe(0)

    await clock.advance(30_000)
    const during = submit(engagements('a', 200))
    await clock.advance(0)
    expect(during.result).toMatchObject({ kind: 'unavailable', retryAfterMs: 30_000 })
    expect(upstream.requests).toHaveLength(2)

    keyValid = true
    await clock.advance(30_000)
    const after = submit(engagements('a', 200))
    await settle()
    expect(after.result).toEqual({ kind: 'settled', accepted: 200, duplicates: 0, rejected: [] })
    expect(coalescer.stats().halted).toBeUndefined()
    expectIdle()
  })
})

describe('coalescer: deadline and load shedding', () => {
  it('answers busy at the deadline, keeps sending, and answers the re-send as duplicates', async () => {
    const { submit, clock, settle, upstream, starts, expectIdle } = scenario({
      maxRequestsPerSecond: 1,
      deadlineMs: 3_000,
      maxBacklog: 1_000,
    })
    const lists = [0, 1, 2, 3, 4].map((i) => engagements(`s${i}`, 200))
    const answers = lists.map((list) => submit(list))
    await clock.advance(3_000)
    expect(answers.map((answer) => answer.result?.kind)).toEqual(['settled', 'settled', 'settled', 'busy', 'busy'])
    // Two batches still wait at 3,000 ms: 2 windows of 1,005 ms.
    expect(answers[3]?.result).toEqual({
      kind: 'busy',
      retryAfterMs: 2_010,
      reason: 'Not settled within 3000 ms; the engagements stay queued',
    })
    await clock.advance(2_000)
    const resent = submit(lists[3]!)
    await settle()
    expect(resent.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 200, rejected: [] })
    // One slot: each start a window after the previous answer (100 ms latency).
    expect(starts()).toEqual([0, 1105, 2210, 3315, 4420])
    expect(upstream.acknowledged.size).toBe(1000)
    expectIdle()
  })

  it('accepts a deadline per submit', async () => {
    const { submit, clock, settle, expectIdle } = scenario({ maxRequestsPerSecond: 1 })
    submit(engagements('a', 200))
    const impatient = submit(engagements('b', 200), 500)
    await clock.advance(500)
    expect(impatient.result).toMatchObject({ kind: 'busy', retryAfterMs: 1005 })
    await settle()
    expectIdle()
  })

  it('refuses at once beyond its backlog, with a Retry-After that grows with the backlog', async () => {
    const { submit, clock, coalescer, settle, expectIdle } = scenario({
      maxRequestsPerSecond: 1,
      batchSize: 100,
      maxBacklog: 1_000,
      deadlineMs: 20_000,
    })
    const admitted = [0, 1, 2, 3, 4].map((i) => submit(engagements(`s${i}`, 200)))
    const refused = submit(engagements('late', 200))
    await clock.advance(0)
    // One batch of 100 in flight, nine waiting: nine slots of 1,005 ms before there is room.
    expect(refused.result).toEqual({
      kind: 'busy',
      retryAfterMs: 9 * 1005,
      reason: 'The proxy is full: it holds 1000 engagements of at most 1000',
    })
    expect(coalescer.stats()).toMatchObject({ held: 1_000, backlog: 900, maxBacklog: 1_000 })

    // Four batches later (each a window after the previous answer) there is room for two more submits, and only two.
    await clock.advance(4 * (100 + 1005))
    expect(coalescer.stats()).toMatchObject({ held: 600, totals: { requests: 5 } })
    const more = [0, 1, 2].map((i) => submit(engagements(`more${i}`, 200)))
    await clock.advance(0)
    expect(more.map((answer) => answer.result?.kind)).toEqual([undefined, undefined, 'busy'])
    expect(coalescer.stats().held).toBeLessThanOrEqual(1_000)
    await settle()
    expect(admitted.every((answer) => answer.result?.kind === 'settled')).toBe(true)
    expectIdle()

    // At twice the rate, the same backlog clears twice as fast.
    const faster = scenario({ maxRequestsPerSecond: 2, batchSize: 100, maxBacklog: 1_000 })
    for (let i = 0; i < 5; i++) faster.submit(engagements(`s${i}`, 200))
    const refusedFaster = faster.submit(engagements('late', 200))
    await faster.clock.advance(0)
    // Two batches in flight, eight waiting: four windows.
    expect(refusedFaster.result).toMatchObject({ kind: 'busy', retryAfterMs: 4 * 1005 })
    await faster.settle()
  })

  it('sizes the default backlog to what can be sent within the deadline', () => {
    const { coalescer } = scenario()
    // 8,000 ms / 1,005 ms × 10 × 200.
    expect(coalescer.stats().maxBacklog).toBe(15_920)
    expect(scenario({ deadlineMs: 4_000, maxRequestsPerSecond: 5 }).coalescer.stats().maxBacklog).toBe(3_980)
    // Never below one client request, however slow the configuration.
    expect(scenario({ maxRequestsPerSecond: 1, batchSize: 1 }).coalescer.stats().maxBacklog).toBe(200)
    // Below it, an option is refused rather than raised silently.
    expect(() => scenario({ maxBacklog: 5 })).toThrow('`maxBacklog` must be a whole number of at least 200 (got 5)')
  })

  it('refuses at once while Conversion asks to wait longer than the deadline', async () => {
    const respond: Responder = (_, request) =>
      request === 0 ? { kind: 'retry', status: 429, reason: 'HTTP 429', afterMs: 30_000 } : { kind: 'ok', status: 200 }
    const { submit, clock, settle, expectIdle } = scenario({ respond })
    submit(engagements('a', 10))
    await clock.advance(100)
    const refused = submit(engagements('b', 10))
    await clock.advance(0)
    expect(refused.result).toMatchObject({ kind: 'busy', reason: expect.stringContaining('waiting before its next request') })
    expect((refused.result as { retryAfterMs: number }).retryAfterMs).toBeGreaterThanOrEqual(30_000)
    await settle()
    expectIdle()
  })
})

describe('coalescer: timers and close', () => {
  it('leaves no timer behind once everything is settled', async () => {
    const { submit, clock, settle, expectIdle } = scenario({ maxRequestsPerSecond: 2, batchSize: 50 })
    for (let i = 0; i < 10; i++) submit(engagements(`s${i}`, 100))
    await clock.advance(10)
    expect(clock.pending).toBeGreaterThan(0)
    await settle()
    expectIdle()
  })

  it('close() cancels its timers and answers open and later submits unavailable', async () => {
    const clock = new FakeClock()
    // An upstream that never answers: any timer left pending would be the Coalescer's.
    const coalescer = createCoalescer({ send: () => new Promise(() => {}), clock, random: () => 0.5, maxRequestsPerSecond: 1 })
    const answers: SubmitResult[] = []
    for (let i = 0; i < 3; i++) void coalescer.submit(parcelsOf(engagements(`s${i}`, 200))).then((result) => answers.push(result))
    await clock.advance(0)
    // Three deadlines and no wake-up: the only slot awaits an answer, and an answer pumps again.
    expect(clock.pending).toBe(3)
    expect(coalescer.stats().window.nextStartInMs).toBe(Infinity)
    coalescer.close()
    expect(clock.pending).toBe(0)
    const later = await coalescer.submit(parcelsOf(engagements('later', 1)))
    expect(answers.map((answer) => answer.kind)).toEqual(['unavailable', 'unavailable', 'unavailable'])
    expect(later).toMatchObject({ kind: 'unavailable', reason: 'The proxy is shutting down' })
    expect(coalescer.stats()).toMatchObject({ backlog: 0, openSubmits: 0, requestsInFlight: 1 })
  })

  it('lets requests in flight at close() finish, remembering what they delivered', async () => {
    const { submit, clock, coalescer } = scenario({ latencyMs: () => 1_000 })
    submit(engagements('a', 5))
    await clock.advance(10)
    coalescer.close()
    await clock.advance(1_000)
    expect(coalescer.stats()).toMatchObject({ inFlight: 0, held: 0, remembered: 5 })
    expect(clock.pending).toBe(0)
  })

  it('uses no global timer, clock or randomness: everything comes through its options', async () => {
    // Wraps the globals for the duration of a whole scenario and notes any call made from src/core.
    const fromCore: string[] = []
    const globals: [Record<string, unknown>, string][] = [
      [globalThis as never, 'setTimeout'],
      [globalThis as never, 'setInterval'],
      [globalThis as never, 'clearTimeout'],
      [Date as never, 'now'],
      [Math as never, 'random'],
    ]
    const originals = globals.map(([owner, name]) => owner[name] as (...args: unknown[]) => unknown)
    globals.forEach(([owner, name], i) => {
      owner[name] = function (this: unknown, ...args: unknown[]) {
        if (/[\\/]src[\\/]core[\\/]/.test(new Error().stack ?? '')) fromCore.push(name)
        return originals[i]!.apply(this, args)
      }
    })
    try {
      const { submit, settle, coalescer } = scenario({ respond: refusing('a-3'), maxRequestsPerSecond: 2, batchSize: 5 })
      for (let i = 0; i < 5; i++) submit(engagements('a', 20), 1_000)
      await settle()
      coalescer.close()
    } finally {
      globals.forEach(([owner, name], i) => (owner[name] = originals[i]))
    }
    expect(fromCore).toEqual([])
  })
})
