import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPacer, type Flight } from '../src/core/pacer.js'
import { busiestReceiverWindow, type Flight as Interval } from './helpers/clock.js'

/** The most starts found in any window of `windowMs` (half-open, placed anywhere). */
function busiestWindow(starts: number[], windowMs: number): number {
  let most = 0
  for (let i = 0; i < starts.length; i++) {
    let count = 0
    for (let j = i; j < starts.length && (starts[j] as number) < (starts[i] as number) + windowMs; j++) count++
    most = Math.max(most, count)
  }
  return most
}

describe('pacer', () => {
  it('allows `limit` starts at once, then makes the next wait for the oldest to leave the window', () => {
    const pacer = createPacer({ limit: 3, windowMs: 1000 })
    expect([pacer.take(0), pacer.take(0), pacer.take(10)]).toEqual([true, true, true])
    expect(pacer.take(500)).toBe(false)
    expect(pacer.delay(500)).toBe(500)
    expect(pacer.take(1000)).toBe(true)
    expect(pacer.delay(1000)).toBe(0)
    expect(pacer.take(1000)).toBe(true)
    expect(pacer.delay(1000)).toBe(10)
  })

  it('never lets more than `limit` starts into any sliding window, whatever the demand', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 300 }),
        (limit, windowMs, gaps) => {
          const pacer = createPacer({ limit, windowMs })
          const starts: number[] = []
          let now = 0
          for (const gap of gaps) {
            now += gap
            // A sender that always asks and starts only when allowed.
            if (pacer.take(now)) starts.push(now)
          }
          expect(busiestWindow(starts, windowMs)).toBeLessThanOrEqual(limit)
        },
      ),
    )
  })

  it('reaches the limit when demand is constant: waiting exactly `delay` is always enough', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 50, max: 2000 }), (limit, windowMs) => {
        const pacer = createPacer({ limit, windowMs })
        let now = 0
        const starts: number[] = []
        while (starts.length < limit * 5) {
          now += pacer.delay(now)
          expect(pacer.take(now)).toBe(true)
          starts.push(now)
        }
        // Five full windows' worth of starts in just over four windows: no time was wasted.
        expect(now).toBe(4 * windowMs)
        expect(busiestWindow(starts, windowMs)).toBe(limit)
      }),
    )
  })

  it('recent() lists the starts inside the window', () => {
    const pacer = createPacer({ limit: 5, windowMs: 1000 })
    for (const t of [0, 100, 900, 1500]) pacer.take(t)
    expect(pacer.recent(1500)).toEqual([900, 1500])
  })

  it('launch(): a flight holds its slot until its answer, then for a full window after it', () => {
    const pacer = createPacer({ limit: 3, windowMs: 1000 })
    const first = pacer.launch(0)
    const second = pacer.launch(10)
    const third = pacer.launch(20)
    expect([first, second, third].every((flight) => flight !== undefined)).toBe(true)
    // Every slot awaits an answer: no wait is long enough, whatever the time.
    expect(pacer.delay(30)).toBe(Infinity)
    expect(pacer.delay(1_000_000)).toBe(Infinity)
    expect(pacer.launch(1_000_000)).toBeUndefined()
    expect(pacer.take(1_000_000)).toBe(false)
    // Awaited flights count as starting now.
    expect(pacer.recent(5_000)).toEqual([5_000, 5_000, 5_000])

    // Answers may come in any order: the second one comes first, at 500.
    second!.land(500)
    expect(pacer.recent(600)).toEqual([500, 600, 600])
    // Its slot is free one window after its ANSWER (1,500), not after its start (1,010).
    expect(pacer.delay(600)).toBe(900)
    expect(pacer.launch(1_010)).toBeUndefined()
    expect(pacer.launch(1_499)).toBeUndefined()
    const fourth = pacer.launch(1_500)
    expect(fourth).toBeDefined()
    expect(pacer.delay(1_500)).toBe(Infinity)

    // An answer that lands late keeps its slot for a window after it: 7,000 + 1,000.
    first!.land(7_000)
    expect(pacer.delay(7_000)).toBe(1_000)
    expect(pacer.launch(7_999)).toBeUndefined()
    expect(pacer.launch(8_000)).toBeDefined()
  })

  it('launch(): however long each answer takes and in whatever order they come, no window AT THE RECEIVER holds more than `limit`', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.array(
          fc.record({
            // How long the sender waits before it asks again: some random time, or exactly what `delay` said.
            wait: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.constant('delay' as const)),
            // How long this request's answer takes if it is launched: often short, sometimes very long.
            latencyMs: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5000 })),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (limit, windowMs, attempts) => {
          const pacer = createPacer({ limit, windowMs })
          const pending: { start: number; answer: number; flight: Flight }[] = []
          const landed: Interval[] = []
          /** Answers every flight whose answer is due by `now`, in the order the answers come. */
          const answerUntil = (now: number) => {
            pending.sort((a, b) => a.answer - b.answer)
            while (pending.length > 0 && pending[0]!.answer <= now) {
              const { start, answer, flight } = pending.shift()!
              flight.land(answer)
              landed.push([start, answer])
            }
          }
          /** The wait the receiver's rule asks for, computed from the flights alone. */
          const expectedDelay = (now: number) => {
            if (pending.length >= limit) return Infinity
            // `limit - pending` answers must be a full window old: the rest of the window may hold `pending` more.
            const answers = landed.map(([, answer]) => answer).sort((a, b) => b - a)
            const blocking = answers[limit - pending.length - 1]
            return blocking === undefined ? 0 : Math.max(0, blocking + windowMs - now)
          }

          let now = 0
          for (const { wait, latencyMs } of attempts) {
            if (wait !== 'delay') now += wait
            else {
              const delay = pacer.delay(now)
              // Waiting for an answer: the sender wakes when the next one comes.
              now = delay === Infinity ? Math.min(...pending.map((item) => item.answer)) : now + delay
            }
            answerUntil(now)
            const delay = pacer.delay(now)
            expect(delay).toBe(expectedDelay(now))
            const flight = pacer.launch(now)
            expect(flight !== undefined).toBe(delay === 0)
            if (flight) pending.push({ start: now, answer: now + latencyMs, flight })
          }
          answerUntil(Infinity)

          expect(busiestReceiverWindow(landed, windowMs)).toBeLessThanOrEqual(limit)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('busiestReceiverWindow() places the window where the network could crowd it most', () => {
    // Started 0 and 1,500 ms apart, yet the first may have arrived as late as its answer at 1,000.
    expect(
      busiestReceiverWindow(
        [
          [0, 1000],
          [1500, 1500],
        ],
        1000,
      ),
    ).toBe(2)
    expect(
      busiestReceiverWindow(
        [
          [0, 499],
          [1500, 1500],
        ],
        1000,
      ),
    ).toBe(1)
    // Half-open: arrivals exactly one window apart are never in the same window.
    expect(
      busiestReceiverWindow(
        [
          [0, 0],
          [1000, 1000],
        ],
        1000,
      ),
    ).toBe(1)
    expect(
      busiestReceiverWindow(
        [
          [0, 0],
          [999, 999],
        ],
        1000,
      ),
    ).toBe(2)
    expect(busiestReceiverWindow([], 1000)).toBe(0)
    // Requests answered at once are points: the same count as for their start times.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 60 }), fc.integer({ min: 1, max: 2000 }), (times, windowMs) => {
        const sorted = [...times].sort((a, b) => a - b)
        expect(
          busiestReceiverWindow(
            sorted.map((time) => [time, time]),
            windowMs,
          ),
        ).toBe(busiestWindow(sorted, windowMs))
      }),
    )
  })
})
