import { describe, expect, it } from 'vitest'
import { backoffDelay, classify, MAX_RETRY_AFTER_MS, parseRetryAfter, retryDelay } from '../src/core/retry.js'

const now = Date.parse('2025-08-12T09:21:45Z')
const facts = (status: number, batchSize = 10, retryAfter: string | null = null) => ({ status, retryAfter, batchSize, now })

describe('classify', () => {
  it.each([
    [200, 'ok'],
    [204, 'ok'],
    [400, 'split'],
    [413, 'split'],
    [422, 'split'],
    [401, 'halt'],
    [403, 'halt'],
    [404, 'halt'],
    [405, 'halt'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
  ])('HTTP %i of a batch of 10 -> %s', (status, kind) => {
    expect(classify(facts(status)).kind).toBe(kind)
  })

  it('rejects a single engagement that the proxy refuses, instead of splitting it', () => {
    expect(classify(facts(400, 1))).toEqual({ kind: 'reject', reason: 'HTTP 400' })
    expect(classify({ ...facts(413, 1), message: 'too large' })).toEqual({ kind: 'reject', reason: 'HTTP 413: too large' })
  })

  it('carries Retry-After, in seconds or as an HTTP date', () => {
    expect(classify(facts(429, 10, '3'))).toEqual({ kind: 'retry', reason: 'HTTP 429', afterMs: 3000 })
    expect(classify(facts(503, 10, new Date(now + 7000).toUTCString()))).toMatchObject({ afterMs: 7000 })
  })
})

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates, and ignores what it cannot read', () => {
    expect(parseRetryAfter('0', now)).toBe(0)
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000)
    expect(parseRetryAfter('Tue, 12 Aug 2025 09:22:00 GMT', now)).toBe(15_000)
    expect(parseRetryAfter('Tue, 12 Aug 2025 09:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-5', now)).toBeUndefined()
    expect(parseRetryAfter(null, now)).toBeUndefined()
  })

  it('is obeyed instead of backoff, up to a sane ceiling', () => {
    const policy = { baseMs: 1000, maxMs: 60_000 }
    expect(retryDelay({ afterMs: 5000 }, 0, policy, () => 0.5)).toBe(5000)
    expect(retryDelay({ afterMs: 90_000 }, 0, policy, () => 0.5)).toBe(90_000)
    expect(retryDelay({ afterMs: 10 * 86_400_000 }, 0, policy, () => 0.5)).toBe(MAX_RETRY_AFTER_MS)
  })
})

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
