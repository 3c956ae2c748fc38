import { describe, expect, it } from 'vitest'
import { refusingLocks } from './helpers/platform.js'
import { demo, World } from './helpers/tracker.js'

describe('tracker: the election when Web Locks refuse', () => {
  it('sends on its own in a sandboxed frame (no IndexedDB, no localStorage, locks refused), and says so', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 1 }, { createStore: undefined, localStorage: undefined, locks: refusingLocks })
    tab.tracker.identify('john@example.com')
    const id = (tab.tracker.track(demo(1)) as { id: string }).id
    await world.runUntil(() => world.proxy.delivered.has(id), 10_000)
    expect((await tab.tracker.stats()).leader).toBe(true)
    const messages = tab.of('error').map((event) => event.error.message)
    expect(messages.filter((message) => /localStorage/.test(message))).toHaveLength(1)
  })

  it('elects one leader with the localStorage lease when locks are refused but localStorage works', async () => {
    const world = new World()
    const first = await world.open({ flushAt: 1 }, { locks: refusingLocks })
    const second = await world.open({ flushAt: 1 }, { locks: refusingLocks })
    await world.clock.advance(2_000)
    const leaders = [(await first.tracker.stats()).leader, (await second.tracker.stats()).leader]
    expect(leaders.filter(Boolean)).toHaveLength(1)
    second.tracker.identify('john@example.com')
    const id = (second.tracker.track(demo(1)) as { id: string }).id
    await world.runUntil(() => world.proxy.delivered.has(id))
    expect(world.proxy.duplicates).toEqual([])
  })
})
