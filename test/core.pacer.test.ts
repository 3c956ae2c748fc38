import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPacer } from '../src/core/pacer.js'

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

  it('saturate() makes a new sender wait one full window', () => {
    const pacer = createPacer({ limit: 10, windowMs: 1000 })
    pacer.saturate(5000)
    expect(pacer.delay(5000)).toBe(1000)
    expect(pacer.take(5999)).toBe(false)
    expect(pacer.take(6000)).toBe(true)
  })

  it('recent() lists the starts inside the window', () => {
    const pacer = createPacer({ limit: 5, windowMs: 1000 })
    for (const t of [0, 100, 900, 1500]) pacer.take(t)
    expect(pacer.recent(1500)).toEqual([900, 1500])
  })
})
