/**
 * Closing the Coalescer while requests are out, with a shared pacer (Redis's, in a fleet): a
 * request still out can reach Conversion until it settles, so its slot must keep counting until
 * then, and not be given back to the other senders at the close.
 */
import { describe, expect, it } from 'vitest'
import type { Reservation, SharedPacer } from '../src/core/coalescer/index.js'
import { engagements, scenario } from './helpers/coalescer.js'

/** A pacer shared with other senders, granting every start and noting when each slot lands. */
function recordingPacer() {
  const granted: number[] = []
  const landed: number[] = []
  const pacer: SharedPacer = {
    reserve(now): Reservation {
      granted.push(now)
      return { granted: true, slot: { land: (at) => landed.push(at) } }
    },
  }
  return { pacer, granted, landed }
}

describe('coalescer: close with requests out and a shared pacer', () => {
  it('lands the slot of a request in flight when its answer comes, not at close()', async () => {
    const shared = recordingPacer()
    const { submit, clock, coalescer, elapsedMs } = scenario({ pacer: shared.pacer, latencyMs: () => 3_000 })
    const t0 = clock.now() - elapsedMs()
    submit(engagements('a', 5))
    await clock.advance(10)
    expect(shared.granted).toHaveLength(1)

    coalescer.close()
    await clock.advance(2_000)
    expect(shared.landed).toEqual([])

    await clock.advance(1_000)
    expect(shared.landed.map((at) => at - t0)).toEqual([3_000])
    expect(coalescer.stats()).toMatchObject({ requestsInFlight: 0, remembered: 5 })
  })

  it('lands it when the request fails (a timeout, an abort) after close()', async () => {
    const shared = recordingPacer()
    const { submit, clock, coalescer, elapsedMs } = scenario({
      pacer: shared.pacer,
      latencyMs: () => 4_000,
      respond: () => new Error('The operation was aborted due to timeout'),
    })
    const t0 = clock.now() - elapsedMs()
    submit(engagements('b', 3))
    await clock.advance(10)
    coalescer.close()
    await clock.advance(3_989)
    expect(shared.landed).toEqual([])

    await clock.advance(1)
    expect(shared.landed.map((at) => at - t0)).toEqual([4_000])
    expect(shared.granted).toHaveLength(1)
    expect(coalescer.stats().requestsInFlight).toBe(0)
  })
})
