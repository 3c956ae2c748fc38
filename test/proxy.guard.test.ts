/**
 * The per-client guard, decided on the times it is given: exact sliding windows for requests and
 * for engagements, the wait it names, and its memory bound. Held against a plain model that keeps
 * every record and recounts the window each time, over many generated sequences.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createMemoryGuard, type GuardVerdict } from '../src/proxy/guard.js'

/** The memory guard answers at once. */
const now = (verdict: GuardVerdict | Promise<GuardVerdict>): GuardVerdict => verdict as GuardVerdict

const WINDOW = 10_000

function guardAt(options: { requests?: number; engagements?: number; maxClients?: number } = {}) {
  let time = 1_000_000
  const guard = createMemoryGuard({
    requests: options.requests ?? 3,
    engagements: options.engagements ?? 100,
    windowMs: WINDOW,
    now: () => time,
    ...(options.maxClients ? { maxClients: options.maxClients } : {}),
  })
  return { guard, at: (ms: number) => (time = 1_000_000 + ms) }
}

/** The model: every admitted record kept; the window recounted from scratch. */
function modelOf(limit: number) {
  const records: { at: number; weight: number }[] = []
  return (now: number, weight: number): GuardVerdict => {
    const inWindow = records.filter((record) => record.at > now - WINDOW)
    const total = inWindow.reduce((sum, record) => sum + record.weight, 0)
    if (total === 0 || total + weight <= limit) {
      records.push({ at: now, weight })
      return { allowed: true }
    }
    let freed = 0
    for (const record of inWindow) {
      freed += record.weight
      if (total + weight - freed <= limit) return { allowed: false, retryAfterMs: record.at + WINDOW - now }
    }
    return { allowed: false, retryAfterMs: WINDOW }
  }
}

describe('per-client guard', () => {
  it('admits requests up to the limit in any sliding window, and names the wait until the oldest leaves', () => {
    const { guard, at } = guardAt({ requests: 3 })
    at(0)
    expect(guard.request('a')).toEqual({ allowed: true })
    at(4_000)
    expect(guard.request('a')).toEqual({ allowed: true })
    expect(guard.request('a')).toEqual({ allowed: true })
    expect(guard.request('a')).toEqual({ allowed: false, retryAfterMs: 6_000 })
    // Another client has its own window.
    expect(guard.request('b')).toEqual({ allowed: true })
    at(9_999)
    expect(guard.request('a')).toEqual({ allowed: false, retryAfterMs: 1 })
    at(10_000)
    expect(guard.request('a')).toEqual({ allowed: true })
    expect(guard.request('a')).toEqual({ allowed: false, retryAfterMs: 4_000 })
  })

  it('counts engagements by weight: a first large request alone passes, then room comes as the oldest counts leave', () => {
    const { guard, at } = guardAt({ engagements: 100 })
    at(0)
    expect(guard.engagements?.('a', 150)).toEqual({ allowed: true })
    at(1_000)
    expect(guard.engagements?.('a', 1)).toEqual({ allowed: false, retryAfterMs: 9_000 })
    at(10_000)
    expect(guard.engagements?.('a', 60)).toEqual({ allowed: true })
    at(11_000)
    expect(guard.engagements?.('a', 40)).toEqual({ allowed: true })
    expect(guard.engagements?.('a', 10)).toEqual({ allowed: false, retryAfterMs: 9_000 })
  })

  it('forgets the clients seen least recently beyond maxClients', () => {
    const { guard, at } = guardAt({ requests: 1, maxClients: 2 })
    at(0)
    guard.request('a')
    guard.request('b')
    expect(now(guard.request('a')).allowed).toBe(false)
    guard.request('c')
    // b was seen least recently: forgotten, so it starts afresh; a is still known.
    expect(guard.request('b')).toEqual({ allowed: true })
    expect(now(guard.request('c')).allowed).toBe(false)
  })

  it('decides as a model that recounts every window, over generated sequences (long ones included, so old records are compacted away)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), weight: fc.integer({ min: 1, max: 30 }) }), {
          minLength: 1,
          maxLength: 400,
        }),
        (limit, steps) => {
          const { guard, at } = guardAt({ engagements: limit })
          const model = modelOf(limit)
          let time = 0
          for (const { gap, weight } of steps) {
            time += gap
            at(time)
            expect(guard.engagements?.('a', weight)).toEqual(model(time, weight))
          }
        },
      ),
      { numRuns: 300, seed: 20261203 },
    )
  })
})
