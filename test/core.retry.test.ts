import { describe, expect, it } from 'vitest'
import { backoffDelay, MAX_RETRY_AFTER_MS, retryDelay } from '../src/core/retry.js'

describe('backoff', () => {
  it('draws uniformly below a ceiling that doubles per failure up to the maximum (full jitter)', () => {
    const policy = { baseMs: 1000, maxMs: 30_000 }
    const top = () => 0.999_999
    expect([0, 1, 2, 3, 4, 5, 40].map((failures) => backoffDelay(failures, policy, top))).toEqual([
      999, 1999, 3999, 7999, 15_999, 29_999, 29_999,
    ])
    expect(backoffDelay(3, policy, () => 0)).toBe(0)
    expect(backoffDelay(3, policy, () => 0.5)).toBe(4000)
  })
})

describe('Retry-After', () => {
  it('is obeyed instead of backoff, up to a sane ceiling', () => {
    const policy = { baseMs: 1000, maxMs: 60_000 }
    expect(retryDelay({ afterMs: 5000 }, 0, policy, () => 0.5)).toBe(5000)
    expect(retryDelay({ afterMs: 90_000 }, 0, policy, () => 0.5)).toBe(90_000)
    expect(retryDelay({ afterMs: 10 * 86_400_000 }, 0, policy, () => 0.5)).toBe(MAX_RETRY_AFTER_MS)
  })
})
