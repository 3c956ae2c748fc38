import type { UseStore } from 'idb-keyval'
import { describe, expect, it } from 'vitest'
import { settle, until } from './helpers/platform.js'
import { demo, World } from './helpers/tracker.js'

describe('tracker: a tab that is not the leader leaves before its writes complete', () => {
  it('hands its unsaved engagements to the leader, which stores and sends them', async () => {
    const world = new World()
    const leader = await world.open({ flushAt: 1 })
    // A closing page aborts its unfinished IndexedDB writes: here they never complete.
    const stalled = (database: string, store: string): UseStore => {
      const real = world.origin.createStore(database, store)
      return (mode, callback) => (mode === 'readwrite' ? new Promise<never>(() => {}) : real(mode, callback))
    }
    const leaving = await world.open({ flushAt: 1 }, { createStore: stalled })
    await until(async () => (await leader.tracker.stats()).leader)
    leaving.tracker.identify('john@example.com')
    const ids = [1, 2, 3].map((i) => (leaving.tracker.track(demo(i)) as { id: string }).id)
    await settle()
    expect(world.proxy.delivered.size).toBe(0)

    leaving.page.hide()
    await until(() => world.proxy.delivered.size === 3)
    expect([...world.proxy.delivered].sort()).toEqual([...ids].sort())
    // Only the leader sent.
    expect(leaving.of('request')).toEqual([])
  })

  it('hands over nothing once its writes are done', async () => {
    const world = new World()
    const leader = await world.open({ flushAt: 1 })
    const other = await world.open({ flushAt: 1 })
    await until(async () => (await leader.tracker.stats()).leader)
    other.tracker.identify('john@example.com')
    other.tracker.track(demo(1))
    await until(() => world.proxy.delivered.size === 1)
    const before = world.origin.writes
    other.page.hide()
    await settle()
    // No second copy is written by the leader.
    expect(world.origin.writes).toBe(before)
    expect(world.proxy.requests).toHaveLength(1)
  })
})
