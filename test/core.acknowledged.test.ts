import { describe, expect, it } from 'vitest'
import { createAcknowledgedIds } from '../src/core/acknowledged.js'

const HOUR = 3_600_000

function setup(options: { retentionMs?: number; capacity?: number } = {}) {
  let time = Date.parse('2025-08-12T09:00:00Z')
  const memory = createAcknowledgedIds({ now: () => time, ...options })
  return { memory, at: () => time, pass: (ms: number) => void (time += ms) }
}

const has = (memory: ReturnType<typeof setup>['memory'], ids: string[]) => [...(memory.has(ids) as ReadonlySet<string>)]

describe('acknowledged ids (in memory)', () => {
  it('answers which ids were acknowledged, synchronously', () => {
    const { memory, at } = setup()
    memory.add(['a', 'b'], at())
    expect(memory.has(['a', 'c', 'b'])).toBeInstanceOf(Set)
    expect(has(memory, ['a', 'c', 'b']).sort()).toEqual(['a', 'b'])
    expect(memory.size()).toBe(2)
  })

  it('forgets an id once the retention period (24 hours by default) has passed', () => {
    const { memory, at, pass } = setup()
    memory.add(['old'], at())
    pass(12 * HOUR)
    memory.add(['newer'], at())
    pass(12 * HOUR - 1)
    expect(has(memory, ['old', 'newer'])).toEqual(['old', 'newer'])
    pass(1)
    expect(has(memory, ['old', 'newer'])).toEqual(['newer'])
    expect(memory.size()).toBe(1)
    pass(12 * HOUR)
    expect(has(memory, ['newer'])).toEqual([])
    expect(memory.size()).toBe(0)
  })

  it('holds at most `capacity` ids, forgetting the oldest first', () => {
    const { memory, at, pass } = setup({ capacity: 5 })
    memory.add(['1', '2', '3'], at())
    pass(1000)
    memory.add(['4', '5', '6', '7'], at())
    expect(memory.size()).toBe(5)
    expect(has(memory, ['1', '2', '3', '4', '5', '6', '7'])).toEqual(['3', '4', '5', '6', '7'])
  })

  it('stays bounded under a long stream of batches', () => {
    const { memory, at, pass } = setup({ capacity: 1000, retentionMs: HOUR })
    for (let batch = 0; batch < 500; batch++) {
      memory.add(Array.from({ length: 200 }, (_, i) => `${batch}-${i}`), at())
      pass(1000)
      expect(memory.size()).toBeLessThanOrEqual(1000)
    }
    expect(has(memory, ['499-199', '495-0', '494-199'])).toEqual(['499-199', '495-0'])
  })

  it('re-acknowledging an id renews it', () => {
    const { memory, at, pass } = setup({ retentionMs: HOUR })
    memory.add(['a'], at())
    pass(HOUR / 2)
    memory.add(['a'], at())
    pass(HOUR / 2)
    expect(has(memory, ['a'])).toEqual(['a'])
    expect(memory.size()).toBe(1)
  })

  it('ignores invalid settings instead of remembering nothing', () => {
    const { memory, at } = setup({ capacity: Number.NaN, retentionMs: -1 })
    memory.add(['a'], at())
    expect(has(memory, ['a'])).toEqual(['a'])
  })
})
