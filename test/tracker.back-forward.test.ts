import { describe, expect, it } from 'vitest'
import { settle, until } from './helpers/platform.js'
import { demo, World } from './helpers/tracker.js'

describe('tracker: the back/forward cache', () => {
  it('sends what waits after coming back, though answers to requests from before come in only then', async () => {
    const world = new World()
    // Answers wait until the test lets them through.
    const held: (() => void)[] = []
    const fetch: typeof world.proxy.fetch = async (input, init) => {
      const answer = await world.proxy.fetch(input, init)
      await new Promise<void>((resolve) => held.push(resolve))
      return answer
    }
    const tab = await world.open({ flushAt: 1, maxBatchSize: 1 }, { fetch })
    tab.tracker.identify('john@example.com')
    const before = [1, 2].map((i) => (tab.tracker.track(demo(i)) as { id: string }).id)
    await until(() => held.length === 2)

    // Into the cache with two requests out; one answer comes in while the page is not the leader.
    tab.page.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }))
    held.shift()!()
    await settle()
    // Back: the tab leads again and tracks more, while the other answer is still awaited.
    tab.page.window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await until(async () => (await tab.tracker.stats()).leader)
    const after = (tab.tracker.track(demo(3)) as { id: string }).id
    await settle()
    held.shift()!()
    await settle()

    // What was tracked after coming back goes out without waiting for anything else to happen.
    await until(() => world.proxy.requests.some((request) => request.ids.includes(after)))
    while (held.length > 0) {
      held.shift()!()
      await settle()
    }
    await until(() => [...before, after].every((id) => world.proxy.delivered.has(id)))
    expect(world.proxy.duplicates).toEqual([])
  })
})
