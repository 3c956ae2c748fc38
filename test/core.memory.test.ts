import { describe, expect, it } from 'vitest'
import { ANY_CONTENT, createMemory, type MemoryOptions } from '../src/core/memory.js'
import { digestOf } from './helpers/parcels.js'

const HOUR = 3_600_000

/** The key of an engagement with this id, and with content `variant` (the same variant: the same content). */
const key = (id: string, variant = 'a') => ({ id, digest: digestOf(id, `{"id":"${id}","variant":"${variant}"}`) })
const keys = (ids: string[]) => ids.map((id) => key(id))

function setup(options: MemoryOptions = {}) {
  let time = Date.parse('2025-08-12T09:00:00Z')
  const memory = createMemory(options)
  const add = (ids: string[]) => memory.acknowledge(keys(ids), time)
  /** The ids the memory knows, as delivered with the same content. */
  const has = (ids: string[]) => ids.filter((_, i) => memory.recall(keys(ids), time)[i] === 'known')
  return { memory, add, has, at: () => time, pass: (ms: number) => void (time += ms) }
}

describe('the memory of delivered engagements (in this process)', () => {
  it('answers what was delivered, synchronously', () => {
    const { memory, add, has, at } = setup()
    add(['a', 'b'])
    expect(memory.recall(keys(['a', 'c', 'b']), at())).toEqual(['known', 'new', 'known'])
    expect(has(['a', 'c', 'b']).sort()).toEqual(['a', 'b'])
    expect(memory.size()).toBe(2)
  })

  it('tells the same id with other content apart: a conflict, not a duplicate', () => {
    const { memory, add, at } = setup()
    add(['order-1001'])
    expect(memory.recall([key('order-1001', 'a'), key('order-1001', 'b')], at())).toEqual(['known', 'conflict'])
  })

  it('knows an id restored without its content (an earlier version of a state file) as delivered, whatever its content', () => {
    const { memory, at } = setup()
    memory.restore([[key('legacy-1').digest.slice(0, 16) + ANY_CONTENT, at()]])
    expect(memory.recall([key('legacy-1', 'a'), key('legacy-1', 'z')], at())).toEqual(['known', 'known'])
  })

  it('forgets an id once the retention period (24 hours by default) has passed', () => {
    const { memory, add, has, pass } = setup()
    add(['old'])
    pass(12 * HOUR)
    add(['newer'])
    pass(12 * HOUR - 1)
    expect(has(['old', 'newer'])).toEqual(['old', 'newer'])
    pass(1)
    expect(has(['old', 'newer'])).toEqual(['newer'])
    expect(memory.size()).toBe(1)
    pass(12 * HOUR)
    expect(has(['newer'])).toEqual([])
    expect(memory.size()).toBe(0)
  })

  it('holds at most `capacity` ids, forgetting the oldest first', () => {
    const { memory, add, has, pass } = setup({ capacity: 5 })
    add(['1', '2', '3'])
    pass(1000)
    add(['4', '5', '6', '7'])
    expect(memory.size()).toBe(5)
    expect(has(['1', '2', '3', '4', '5', '6', '7'])).toEqual(['3', '4', '5', '6', '7'])
  })

  it('stays bounded under a long stream of batches', () => {
    const { memory, add, has, pass } = setup({ capacity: 1000, retentionMs: HOUR })
    for (let batch = 0; batch < 500; batch++) {
      add(Array.from({ length: 200 }, (_, i) => `${batch}-${i}`))
      pass(1000)
      expect(memory.size()).toBeLessThanOrEqual(1000)
    }
    expect(has(['499-199', '495-0', '494-199'])).toEqual(['499-199', '495-0'])
  })

  it('re-acknowledging an id renews it', () => {
    const { memory, add, has, pass } = setup({ retentionMs: HOUR })
    add(['a'])
    pass(HOUR / 2)
    add(['a'])
    pass(HOUR / 2)
    expect(has(['a'])).toEqual(['a'])
    expect(memory.size()).toBe(1)
  })

  it('refuses invalid settings, naming the option, instead of remembering nothing', () => {
    expect(() => createMemory({ capacity: Number.NaN })).toThrow('`capacity` must be a whole number of at least 1 (got NaN)')
    expect(() => createMemory({ retentionMs: -1 })).toThrow('`retentionMs` must be a number of at least 1 (got -1)')
  })

  it('cannot be flushed: 251,000 other ids do not push out a canary (the default covers an hour at full rate)', () => {
    const { add, has, pass } = setup()
    add(['canary'])
    for (let batch = 0; batch < 1_255; batch++) {
      add(Array.from({ length: 200 }, (_, i) => `flood-${batch}-${i}`))
      pass(100)
    }
    expect(has(['canary'])).toEqual(['canary'])
  })

  it('lists what it remembers, oldest first, for a state file', () => {
    const { memory, add, pass, at } = setup()
    add(['x'])
    pass(5)
    add(['y', 'x'])
    expect([...memory.entries()]).toEqual([
      [key('y').digest, at()],
      [key('x').digest, at()],
    ])
  })
})
