import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { halve, splitIntoBatches, takeBatch } from '../src/core/batch.js'

const size = (item: { bytes: number }) => item.bytes
const items = (...bytes: number[]) => bytes.map((b, i) => ({ i, bytes: b }))
/** The bytes of `{"batch":[a,b,c]}` given the envelope and item sizes. */
const bodyBytes = (envelope: number, batch: { bytes: number }[]) =>
  envelope + 2 + batch.reduce((sum, item) => sum + item.bytes, 0) + Math.max(0, batch.length - 1)

describe('batch', () => {
  it('takes items up to the count limit', () => {
    const batch = takeBatch(items(1, 1, 1, 1, 1), { maxCount: 3, maxBytes: 1000, envelopeBytes: 10 }, size)
    expect(batch.map((item) => item.i)).toEqual([0, 1, 2])
  })

  it('stops before the item that would cross the byte limit, counting brackets and commas', () => {
    // envelope 10 + [] 2 = 12; +40 = 52; +1+40 = 93; +1+40 = 134 > 100
    const batch = takeBatch(items(40, 40, 40), { maxCount: 200, maxBytes: 100, envelopeBytes: 10 }, size)
    expect(batch).toHaveLength(2)
    expect(bodyBytes(10, batch)).toBe(93)
  })

  it('takes one oversized item alone rather than none', () => {
    expect(takeBatch(items(500, 1), { maxCount: 200, maxBytes: 100, envelopeBytes: 10 }, size)).toHaveLength(1)
    expect(takeBatch([], { maxCount: 200, maxBytes: 100, envelopeBytes: 10 }, size)).toEqual([])
  })

  it('splits any list into batches that keep order, lose nothing and respect both limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 320, max: 5000 }),
        (sizes, maxCount, maxBytes) => {
          const list = items(...sizes)
          const batches = splitIntoBatches(list, { maxCount, maxBytes, envelopeBytes: 10 }, size)
          expect(batches.flat()).toEqual(list)
          for (const batch of batches) {
            expect(batch.length).toBeGreaterThan(0)
            expect(batch.length).toBeLessThanOrEqual(maxCount)
            expect(bodyBytes(10, batch)).toBeLessThanOrEqual(maxBytes)
          }
        },
      ),
    )
  })

  it('halves for bisection', () => {
    expect(halve([1, 2, 3, 4, 5])).toEqual([
      [1, 2, 3],
      [4, 5],
    ])
    expect(halve([1, 2])).toEqual([[1], [2]])
  })
})
