import type { UseStore } from 'idb-keyval'
import { describe, expect, it, vi } from 'vitest'
import { LIMITS } from '../src/contract.js'
import { createTracker } from '../src/tracker/tracker.js'
import { settle, until } from './helpers/platform.js'
import { demo, ENDPOINT, World } from './helpers/tracker.js'

describe('tracker: leaving the page', () => {
  it('hands unsent engagements to sendBeacon in text bodies of at most 60 KB when the page is hidden', async () => {
    const world = new World()
    world.proxy.down = true
    const tab = await world.open({ flushAt: 100_000 })
    tab.tracker.identify('john@example.com')
    const ids = Array.from(
      { length: 300 },
      (_, i) => (tab.tracker.track({ ...demo(i), description: 'd'.repeat(200) }) as { id: string }).id,
    )
    await settle()
    tab.page.hide()

    const beacons = tab.page.beacons
    expect(beacons.length).toBeGreaterThan(1)
    for (const beacon of beacons) {
      expect(beacon.url).toBe(ENDPOINT)
      expect(new TextEncoder().encode(beacon.body).length).toBeLessThanOrEqual(LIMITS.beaconBytes)
    }
    expect(beacons.flatMap((beacon) => JSON.parse(beacon.body).batch.map((item: { id: string }) => item.id))).toEqual(ids)
    expect(tab.of('request').filter((event) => event.transport === 'beacon')).toHaveLength(beacons.length)
    // Hiding again soon after does not send the same engagements twice.
    tab.page.show()
    tab.page.hide()
    expect(tab.page.beacons).toHaveLength(beacons.length)
  })

  it('keeps beaconed engagements until an answer settles them: re-sent later, answered as duplicates', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 100_000, flushInterval: 60_000 })
    tab.tracker.identify('john@example.com')
    const id = (tab.tracker.track(demo(1)) as { id: string }).id
    await settle()
    tab.page.hide()
    expect(tab.page.beacons).toHaveLength(1)
    // The beacon reached the proxy, but nobody could tell the page.
    await world.proxy.fetch(ENDPOINT, { method: 'POST', body: tab.page.beacons[0]!.body })
    expect(await tab.tracker.stats()).toMatchObject({ queued: 1 })

    await tab.tracker.flush()
    expect(world.proxy.requests).toHaveLength(1)
    await world.clock.advance(10_000)
    await tab.tracker.flush()
    await until(async () => (await tab.tracker.stats()).queued === 0)
    expect(world.proxy.duplicates).toEqual([id])
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('falls back to a keepalive fetch where sendBeacon is missing', async () => {
    const world = new World()
    const calls: RequestInit[] = []
    const tab = await world.open(
      { flushAt: 100 },
      {
        sendBeacon: undefined,
        fetch: async (input, init) => {
          calls.push(init!)
          return world.proxy.fetch(input, init)
        },
      },
    )
    tab.tracker.identify('john@example.com')
    tab.tracker.track(demo(1))
    await settle()
    tab.page.hide()
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({ keepalive: true, credentials: 'omit' })
    // A string body travels as text/plain;charset=UTF-8: no CORS preflight.
    expect(new Request(ENDPOINT, calls[0]).headers.get('content-type')).toBe('text/plain;charset=UTF-8')
  })

  it('counts beacons against the pacer like any request', async () => {
    const world = new World()
    world.proxy.down = true
    const tab = await world.open({ flushAt: 100_000, maxRequestsPerSecond: 2 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 900; i++) tab.tracker.track({ ...demo(i), description: 'd'.repeat(300) })
    await settle()
    tab.page.hide()
    expect(tab.page.beacons).toHaveLength(2)
  })
})

describe('tracker: several tabs', () => {
  it('lets one leader send for every tab of the origin, each engagement once', async () => {
    const world = new World()
    const first = await world.open({ flushAt: 5 })
    const second = await world.open({ flushAt: 5 })
    await settle()
    expect([(await first.tracker.stats()).leader, (await second.tracker.stats()).leader]).toEqual([true, false])

    first.tracker.identify('john@example.com')
    await settle()
    const ids: string[] = []
    for (let i = 0; i < 20; i++) {
      const tab = i % 2 === 0 ? first : second
      ids.push((tab.tracker.track(demo(i)) as { id: string }).id)
    }
    await second.tracker.flush()
    await until(() => world.proxy.delivered.size === 20)
    expect([...world.proxy.delivered].sort()).toEqual([...ids].sort())
    expect(world.proxy.duplicates).toEqual([])
    expect(second.of('request')).toHaveLength(0)
    expect(first.of('request').length).toBeGreaterThan(0)
  })

  it('hands leadership over when the leader leaves, and the new leader sends what was left', async () => {
    const world = new World()
    world.proxy.down = true
    const first = await world.open({ flushAt: 1 })
    const second = await world.open({ flushAt: 1 })
    first.tracker.identify('john@example.com')
    await settle()
    second.tracker.track(demo(1))
    await settle()
    first.page.window.dispatchEvent(new Event('pagehide'))
    world.proxy.down = false
    await until(async () => (await second.tracker.stats()).leader)
    await world.runUntil(() => world.proxy.delivered.size === 1)
  })

  it('shares the pacer slots only while leading: an answer that comes in after the tab left does not overwrite the new leader record', async () => {
    const world = new World()
    const held: (() => void)[] = []
    // The first tab's answer waits until the test lets it through.
    const slow: typeof world.proxy.fetch = async (input, init) => {
      const answer = await world.proxy.fetch(input, init)
      await new Promise<void>((resolve) => held.push(resolve))
      return answer
    }
    const first = await world.open({ flushAt: 1 }, { fetch: slow })
    const second = await world.open({ flushAt: 1 })
    first.tracker.identify('john@example.com')
    first.tracker.track(demo(1))
    await until(() => held.length === 1)
    const key = 'conversion-engagements:default:pacing'
    first.page.window.dispatchEvent(new Event('pagehide'))
    await until(async () => (await second.tracker.stats()).leader)
    second.tracker.track(demo(2))
    await until(() => world.proxy.requests.length === 2)
    const sharedByNewLeader = world.origin.localStorage.getItem(key)
    held.shift()!()
    await settle()
    expect(world.origin.localStorage.getItem(key)).toBe(sharedByNewLeader)
  })

  it('adopts engagements of a tab that has no IndexedDB, so only the leader sends', async () => {
    const world = new World()
    const leader = await world.open({ flushAt: 1 })
    const memoryOnly = await world.open({ flushAt: 1 }, { createStore: undefined })
    expect((await memoryOnly.tracker.stats()).storage).toBe('memory')
    memoryOnly.tracker.identify('john@example.com')
    const id = (memoryOnly.tracker.track(demo(1)) as { id: string }).id
    await until(() => world.proxy.delivered.has(id))
    expect(memoryOnly.of('request')).toHaveLength(0)
    expect(leader.of('request')).toHaveLength(1)
  })

  it('elects a single leader with a localStorage lease where Web Locks are missing', async () => {
    const world = new World()
    const first = await world.open({}, { locks: undefined })
    const second = await world.open({}, { locks: undefined })
    await world.clock.advance(2000)
    const leaders = [(await first.tracker.stats()).leader, (await second.tracker.stats()).leader]
    expect(leaders.filter(Boolean)).toHaveLength(1)

    // The leader leaves: the other takes over once the lease is free.
    const [leaving, staying] = leaders[0] ? [first, second] : [second, first]
    leaving.page.window.dispatchEvent(new Event('pagehide'))
    await world.clock.advance(2000)
    expect((await staying.tracker.stats()).leader).toBe(true)
  })
})

describe('tracker: storage trouble', () => {
  it('keeps working in memory when IndexedDB is missing, and says so', async () => {
    const world = new World()
    const tab = await world.open({}, { createStore: undefined })
    expect(tab.of('error')[0]?.error).toMatchObject({ code: 'storage' })
    expect(tab.page.logs.some((log) => log.level === 'warn')).toBe(true)
    tab.tracker.identify('john@example.com')
    tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('switches to memory when IndexedDB fails mid-way (quota, blocked), losing nothing it was given', async () => {
    const world = new World()
    let failing = false
    const tab = await world.open(
      { flushAt: 100 },
      {
        createStore: (database, store) => {
          const real = world.origin.createStore(database, store)
          return (mode, callback) =>
            failing ? Promise.reject(new DOMException('quota exceeded', 'QuotaExceededError')) : real(mode, callback)
        },
      },
    )
    tab.tracker.identify('john@example.com')
    await settle()
    failing = true
    for (let i = 0; i < 5; i++) tab.tracker.track(demo(i))
    await tab.tracker.flush()
    expect((await tab.tracker.stats()).storage).toBe('memory')
    expect(tab.of('error').map((event) => event.error.code)).toContain('storage')
    expect(world.proxy.delivered.size).toBe(5)
  })

  it('reads what a visit stored, counts and sends in memory when IndexedDB fails under the very first read', async () => {
    const world = new World()
    const failing = (): UseStore => () => Promise.reject(new DOMException('blocked', 'UnknownError'))
    const tab = await world.open({ flushAt: 1 }, { createStore: failing })
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0, held: 0, storage: 'memory' })
    tab.tracker.identify('john@example.com')
    tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect(world.proxy.delivered.size).toBe(1)
    expect(tab.of('error').map((event) => event.error.code)).toEqual(['storage'])
  })
})

describe('tracker: outside a browser', () => {
  it('returns a tracker that does nothing and says why, once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const tracker = createTracker({ endpoint: '/engagements' })
    createTracker({ endpoint: '/engagements' })
    expect(tracker.track(demo(1))).toMatchObject({ ok: false, error: { code: 'unsupported' } })
    await tracker.flush()
    expect((await tracker.stats()).queued).toBe(0)
    expect(warn).toHaveBeenCalledTimes(1)
    warn.mockRestore()
  })

  it('refuses to start without an endpoint', () => {
    const world = new World()
    expect(() => createTracker({} as never)).not.toThrow() // on the server it is a no-op
    expect(() => createTracker({ platform: { window: new EventTarget(), document: world.origin as never } } as never)).toThrow(/endpoint/)
  })
})
