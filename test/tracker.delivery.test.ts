import { describe, expect, it } from 'vitest'
import { settle, until } from './helpers/platform.js'
import { demo, World } from './helpers/tracker.js'

describe('tracker delivery', () => {
  it('sends an engagement with its id, UTC createdAt and contact, and empties the outbox', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    const result = tab.tracker.track({ type: 'PRODUCT_ACTIVITY', name: 'Product Demo Completed', data: { duration_minutes: 45 } })
    expect(result.ok).toBe(true)
    await tab.tracker.flush()

    expect(world.proxy.requests).toHaveLength(1)
    const [sent] = world.proxy.requests[0]!.body.batch
    expect(sent).toEqual({
      id: (result as { id: string }).id,
      type: 'PRODUCT_ACTIVITY',
      name: 'Product Demo Completed',
      data: { duration_minutes: 45 },
      createdAt: new Date(world.clock.now()).toISOString(),
      contactEmail: 'john@example.com',
    })
    expect(sent!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0, sent: 1, leader: true, storage: 'indexeddb' })
    expect(tab.of('sent')).toEqual([{ type: 'sent', ids: [sent!.id], accepted: 1, duplicates: 0 }])
  })

  it('writes the track calls of one tick together: one IndexedDB transaction for a few hundred', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 10_000 })
    tab.tracker.identify('john@example.com')
    await settle()
    const before = world.origin.writes
    for (let i = 0; i < 300; i++) tab.tracker.track(demo(i))
    await settle()
    expect(world.origin.writes - before).toBe(1)
    expect((await tab.tracker.stats()).queued).toBe(300)
  })

  it('sends in batches of at most 200 and under the byte cap, in order, each once', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 10_000 })
    tab.tracker.identify('john@example.com')
    const ids = Array.from({ length: 450 }, (_, i) => tab.tracker.track(demo(i))).map((r) => (r as { id: string }).id)
    await tab.tracker.flush()
    expect(world.proxy.requests.map((request) => request.ids.length)).toEqual([200, 200, 50])
    expect(world.proxy.requests.flatMap((request) => request.ids)).toEqual(ids)

    const small = new World()
    const other = await small.open({ flushAt: 10_000, maxBatchBytes: 4096 })
    other.tracker.identify('john@example.com')
    for (let i = 0; i < 100; i++) other.tracker.track(demo(i))
    await other.tracker.flush()
    expect(small.proxy.requests.length).toBeGreaterThan(3)
    for (const request of small.proxy.requests) expect(request.bytes).toBeLessThanOrEqual(4096)
    expect(small.proxy.delivered.size).toBe(100)
  })

  it('flushes at flushAt without waiting, and otherwise after flushInterval', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 5, flushInterval: 3000 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 4; i++) tab.tracker.track(demo(i))
    await settle()
    expect(world.proxy.requests).toHaveLength(0)
    await world.clock.advance(2999)
    expect(world.proxy.requests).toHaveLength(0)
    await world.clock.advance(1)
    expect(world.proxy.requests).toHaveLength(1)

    for (let i = 0; i < 5; i++) tab.tracker.track(demo(i))
    await until(() => world.proxy.requests.length === 2)
  })

  it('never starts more than maxRequestsPerSecond requests in any sliding second', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 100_000, maxBatchSize: 10, maxRequestsPerSecond: 10 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 600; i++) tab.tracker.track(demo(i))
    const flushed = tab.tracker.flush()
    for (let i = 0; i < 300 && world.proxy.delivered.size < 600; i++) await world.clock.advance(100)
    await flushed
    const starts = world.proxy.requests.map((request) => request.at)
    expect(starts).toHaveLength(60)
    for (const start of starts) {
      expect(starts.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(10)
    }
    // Paced, not stalled: 60 requests at 10 per second take a little under six seconds.
    expect(starts.at(-1)! - starts[0]!).toBeLessThan(6500)
    expect(tab.of('request').every((event) => event.transport === 'fetch')).toBe(true)
  })

  it('takes over the pacer slots of the tab that sent before it: a reload does not start a new second early', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 100_000, maxBatchSize: 1 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 10; i++) tab.tracker.track(demo(i))
    await tab.tracker.flush()
    expect(world.proxy.requests).toHaveLength(10)
    await tab.tracker.shutdown()

    // The page reloads at once and tracks again: its slots are the first page's, answered just now.
    const reloaded = await world.open({ flushAt: 1, maxBatchSize: 1 })
    reloaded.tracker.track(demo(10))
    const flushed = reloaded.tracker.flush()
    await world.clock.advance(1_000)
    expect(world.proxy.requests).toHaveLength(10)
    await world.runUntil(() => world.proxy.requests.length === 11, 5_000, 5)
    expect(world.proxy.requests[10]!.at - world.proxy.requests[9]!.at).toBeGreaterThanOrEqual(1_005)
    await flushed
  })

  it('keeps engagements through 5xx and network errors, with backoff, and sends them unchanged', async () => {
    const world = new World()
    const tab = await world.open({ retryBaseDelay: 1000 })
    tab.tracker.identify('john@example.com')
    world.proxy.failures.push({ status: 500 }, { status: 502 })
    tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect(world.proxy.requests).toHaveLength(1)
    expect(tab.of('retried')[0]).toMatchObject({ failures: 1, reason: 'HTTP 500: failing on purpose' })
    expect((await tab.tracker.stats()).retryAt).toBeGreaterThan(world.clock.now())

    await world.clock.advance(1000)
    expect(world.proxy.requests).toHaveLength(2)
    world.proxy.down = true
    await world.clock.advance(2000)
    expect(world.proxy.requests).toHaveLength(2)
    world.proxy.down = false
    await world.clock.advance(8000)
    expect(world.proxy.delivered.size).toBe(1)
    const [first, ...rest] = world.proxy.requests.map((request) => request.body.batch[0])
    for (const again of rest) expect(again).toEqual(first)
    // Each failure in a row raised the count by one; the success ended the series.
    const failures = tab.of('retried').map((event) => event.failures)
    expect(failures).toEqual(failures.map((_, i) => i + 1))
    expect(failures.length).toBeGreaterThanOrEqual(3)
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0, sent: 1 })
  })

  it('honours Retry-After, and the backoff survives a reload', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    world.proxy.failures.push({ status: 429, headers: { 'retry-after': '60' } })
    tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect(tab.of('retried')[0]).toMatchObject({ delayMs: 60_000 })

    // The page reloads 10 s later: the new page must not retry before the minute is over.
    await world.clock.advance(10_000)
    await tab.tracker.shutdown()
    const reloaded = await world.open()
    await reloaded.tracker.flush()
    expect(world.proxy.requests).toHaveLength(1)
    await world.clock.advance(49_000)
    expect(world.proxy.requests).toHaveLength(1)
    await world.clock.advance(1_000)
    await until(() => world.proxy.delivered.size === 1)
  })

  it('pauses while offline without spending attempts, and sends when the network returns', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    tab.page.online = false
    world.proxy.down = true
    for (let i = 0; i < 3; i++) tab.tracker.track(demo(i))
    await tab.tracker.flush()
    await world.clock.advance(60_000)
    expect(world.proxy.requests).toHaveLength(0)
    world.proxy.down = false
    tab.page.goOnline()
    await until(() => world.proxy.delivered.size === 3)
    expect(tab.of('retried').filter((event) => event.failures > 0)).toHaveLength(0)
  })

  it('abandons a request that does not answer within requestTimeout and retries it', async () => {
    const world = new World()
    const tab = await world.open({ requestTimeout: 5000 })
    tab.tracker.identify('john@example.com')
    world.proxy.hang = true
    tab.tracker.track(demo(1))
    const flushed = tab.tracker.flush()
    await world.clock.advance(5000)
    await flushed
    expect(tab.of('retried')[0]).toMatchObject({ reason: 'no answer within 5000 ms', failures: 1 })
    world.proxy.hang = false
    await world.clock.advance(5000)
    expect(world.proxy.delivered.size).toBe(1)
  })
})
