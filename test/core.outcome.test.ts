import { describe, expect, it } from 'vitest'
import { classify, parseRetryAfter, unanswered } from '../src/core/outcome.js'

const now = Date.parse('2025-08-12T09:21:45Z')
const facts = (status: number, retryAfter: string | null = null) => ({ status, retryAfter, now })

describe('classify', () => {
  it.each([
    [200, 'ok'],
    [204, 'ok'],
    [400, 'refused'],
    [413, 'too-large'],
    [422, 'refused'],
    [401, 'halt'],
    [403, 'halt'],
    [404, 'halt'],
    [405, 'halt'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
  ])('HTTP %i -> %s', (status, kind) => {
    expect(classify(facts(status)).kind).toBe(kind)
  })

  it('keeps the status, and the message in the reason', () => {
    expect(classify(facts(400))).toEqual({ kind: 'refused', status: 400, reason: 'HTTP 400' })
    expect(classify({ ...facts(413), message: 'too large' })).toEqual({ kind: 'too-large', status: 413, reason: 'HTTP 413: too large' })
    expect(classify(facts(201))).toEqual({ kind: 'ok', status: 201 })
  })

  it('carries Retry-After, in seconds or as an HTTP date', () => {
    expect(classify(facts(429, '3'))).toEqual({ kind: 'retry', status: 429, reason: 'HTTP 429', afterMs: 3000 })
    expect(classify(facts(503, new Date(now + 7000).toUTCString()))).toMatchObject({ afterMs: 7000 })
  })

  it('says a request without an answer is retried, with no status', () => {
    expect(unanswered('network error')).toEqual({ kind: 'retry', status: undefined, reason: 'network error' })
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
})
