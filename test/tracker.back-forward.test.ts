import type { UseStore } from 'idb-keyval'
import { describe, expect, it } from 'vitest'
import { settle, until } from './helpers/platform.js'
import { demo, World, type Tab } from './helpers/tracker.js'

/** Sends the page into the back/forward cache, or brings it back from there. */
const cache = (tab: Tab, type: 'pagehide' | 'pageshow') =>
  tab.page.window.dispatchEvent(Object.assign(new Event(type), { persisted: true }))

/**
 * Tab B tracks X while A leads; B goes into the back/forward cache, A delivers X (B misses the
 * news), B comes back and A closes: B now leads, still remembering X as unsent.
 */
async function deliveredWhileCached() {
  const world = new World()
  const options = { flushAt: 100_000, flushInterval: 60_000 }
  const a = await world.open(options)
  const b = await world.open(options)
  b.tracker.identify('john@example.com')
  const x = (b.tracker.track(demo(1)) as { id: string }).id
  await settle()
  cache(b, 'pagehide')
  await a.tracker.flush()
  expect(world.proxy.delivered.has(x)).toBe(true)
  cache(b, 'pageshow')
  a.page.window.dispatchEvent(new Event('pagehide'))
  await until(async () => (await b.tracker.stats()).leader)
  return { world, b, x }
}

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

  it('does not put back an engagement another tab delivered while this one was cached, when a beacon carries it', async () => {
    const { world, b } = await deliveredWhileCached()
    // Hidden before it read the outbox: its beacon carries X from memory.
    b.page.hide()
    await settle()
    expect(await b.tracker.stats()).toMatchObject({ queued: 0 })
    const next = await world.open()
    await next.tracker.flush()
    expect(world.proxy.duplicates).toEqual([])
  })

  it('forgets what a read from the oldest no longer finds, so no beacon carries it', async () => {
    const { world, b, x } = await deliveredWhileCached()
    const y = (b.tracker.track(demo(2)) as { id: string }).id
    await b.tracker.flush()
    expect(world.proxy.delivered.has(y)).toBe(true)
    b.page.hide()
    const beaconed = b.page.beacons.flatMap((beacon) => JSON.parse(beacon.body).batch.map((item: { id: string }) => item.id))
    expect(beaconed).not.toContain(x)
  })

  it('takes an optOut() made in another tab while it was cached: refuses, sends nothing, drops what it still held', async () => {
    const world = new World()
    world.proxy.down = true
    // Its writes wait while `gate` is set: one completes only after the other tab's clear.
    let gate: Promise<void> | undefined
    let open = () => {}
    const gated = (database: string, store: string): UseStore => {
      const real = world.origin.createStore(database, store)
      return (mode, callback) => (mode === 'readwrite' && gate ? gate.then(() => real(mode, callback)) : real(mode, callback))
    }
    const a = await world.open({ flushAt: 1 })
    const b = await world.open({ flushAt: 1 }, { createStore: gated })
    a.tracker.identify('john@example.com')
    await settle()
    gate = new Promise((resolve) => (open = resolve))
    const late = (b.tracker.track(demo(1)) as { id: string }).id
    await settle()
    cache(b, 'pagehide')
    a.tracker.optOut()
    await settle()
    cache(b, 'pageshow')
    await settle()

    expect(b.tracker.track(demo(2))).toMatchObject({ ok: false, error: { code: 'opted-out' } })
    open()
    await settle()
    expect(b.of('dropped')).toEqual([{ type: 'dropped', ids: [late], reason: 'opted-out' }])
    expect(await a.tracker.stats()).toMatchObject({ queued: 0 })
    world.proxy.down = false
    a.page.window.dispatchEvent(new Event('pagehide'))
    await until(async () => (await b.tracker.stats()).leader)
    await world.clock.advance(60_000)
    b.page.hide()
    expect(world.proxy.requests).toEqual([])
    expect(b.page.beacons).toEqual([])
  })

  it('takes the contact another tab set while it was cached', async () => {
    const world = new World()
    const a = await world.open({ flushAt: 1 })
    const b = await world.open({ flushAt: 1 })
    a.tracker.identify('john@example.com')
    await settle()
    cache(b, 'pagehide')
    a.tracker.identify('jane@example.com')
    await settle()
    cache(b, 'pageshow')
    await settle()
    const id = (b.tracker.track(demo(1)) as { id: string }).id
    await until(() => world.proxy.delivered.has(id))
    expect(world.proxy.requests.flatMap((request) => request.body.batch)).toMatchObject([{ id, contactEmail: 'jane@example.com' }])
  })
})
