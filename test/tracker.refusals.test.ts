import { describe, expect, it } from 'vitest'
import { createTracker } from '../src/tracker/tracker.js'
import { FakePage, settle, until } from './helpers/platform.js'
import { demo, ENDPOINT, World } from './helpers/tracker.js'

describe('tracker: what the proxy refuses', () => {
  it('splits a batch the proxy finds too large (413) until it fits, and sends smaller bodies from then on', async () => {
    const world = new World()
    world.proxy.maxBytes = 9000
    const tab = await world.open({ flushAt: 10_000 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 150; i++) tab.tracker.track(demo(i))
    void tab.tracker.flush()
    await world.runUntil(() => world.proxy.delivered.size === 150)
    expect(world.proxy.duplicates).toEqual([])
    const refused = world.proxy.requests.filter((request) => request.bytes > 9000)
    expect(refused.length).toBeGreaterThan(0)
    // After the first refusals the tracker adapted: the last requests all fit.
    expect(world.proxy.requests.slice(-3).every((request) => request.bytes <= 9000)).toBe(true)
  })

  it('isolates the engagement behind a whole-batch 400 by bisection, and delivers the rest', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 10_000 })
    tab.tracker.identify('john@example.com')
    const ids = Array.from({ length: 64 }, (_, i) => (tab.tracker.track(demo(i)) as { id: string }).id)
    world.proxy.poison.add(ids[37]!)
    void tab.tracker.flush()
    await world.runUntil(async () => world.proxy.delivered.size === 63 && (await tab.tracker.stats()).queued === 0)
    expect(tab.of('rejected')).toEqual([{ type: 'rejected', id: ids[37], reason: 'HTTP 400: malformed batch' }])
    expect([...world.proxy.delivered].sort()).toEqual(ids.filter((id) => id !== ids[37]).sort())
    // log2(64) levels of halving: a handful of requests, not one per engagement.
    expect(world.proxy.requests.length).toBeLessThanOrEqual(2 * 6 + 1)
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0, rejected: 1 })
  })

  it('removes and reports engagements the proxy rejects in a 200 answer', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    const kept = tab.tracker.track(demo(1)) as { id: string }
    const refused = tab.tracker.track(demo(2)) as { id: string }
    world.proxy.refuse.set(refused.id, 'type: not in the allowlist')
    await tab.tracker.flush()
    expect(tab.of('rejected')).toEqual([{ type: 'rejected', id: refused.id, reason: 'type: not in the allowlist' }])
    expect(tab.of('sent')).toEqual([{ type: 'sent', ids: [kept.id], accepted: 1, duplicates: 0 }])
    expect((await tab.tracker.stats()).queued).toBe(0)
  })

  it('stops sending on 401/403, says so loudly, and keeps every engagement', async () => {
    for (const status of [401, 403]) {
      const world = new World()
      const tab = await world.open()
      tab.tracker.identify('john@example.com')
      world.proxy.failures.push({ status })
      for (let i = 0; i < 3; i++) tab.tracker.track(demo(i))
      await tab.tracker.flush()
      await world.clock.advance(600_000)
      tab.tracker.track(demo(4))
      await tab.tracker.flush()
      expect(world.proxy.requests).toHaveLength(1)
      expect(tab.of('error')[0]?.error).toMatchObject({ code: 'halted' })
      expect(tab.page.logs.filter((log) => log.level === 'error')).toHaveLength(1)
      expect(await tab.tracker.stats()).toMatchObject({ queued: 4, halted: `HTTP ${status}: failing on purpose` })
    }
  })

  it('retries a 200 whose body is not a settlement instead of dropping what it carried', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    world.proxy.failures.push({ status: 200, body: '<html>catch-all page</html>' })
    tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect(tab.of('retried')[0]?.reason).toBe('HTTP 200 without a settlement body')
    await world.clock.advance(2000)
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('acts on the status when the body of an answer is cut off: a 400 refuses, a 200 without a settlement retries', async () => {
    const world = new World()
    let status = 400
    const cutOff = () =>
      new Response(new ReadableStream({ start: (controller) => controller.error(new TypeError('connection reset')) }), { status })
    const tab = await world.open({}, { fetch: async () => cutOff() })
    tab.tracker.identify('john@example.com')
    const refused = (tab.tracker.track(demo(1)) as { id: string }).id
    await tab.tracker.flush()
    expect(tab.of('rejected')).toEqual([{ type: 'rejected', id: refused, reason: 'HTTP 400' }])
    status = 200
    tab.tracker.track(demo(2))
    await tab.tracker.flush()
    expect(tab.of('retried')[0]?.reason).toBe('HTTP 200 without a settlement body')
  })
})

describe('tracker: bad input', () => {
  it('returns a clear error naming the field and the rule, reports it, and never throws', async () => {
    const world = new World()
    const errors: unknown[] = []
    const tab = await world.open({ onError: (error) => errors.push(error) })
    tab.tracker.identify('john@example.com')
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const cases: [unknown, string, string][] = [
      [undefined, 'engagement', 'required'],
      ['PRODUCT_ACTIVITY', 'engagement', 'type'],
      [{}, 'type', 'required'],
      [{ type: '' }, 'type', 'min'],
      [{ type: 'x'.repeat(101) }, 'type', 'max'],
      [{ type: 'A', name: 42 }, 'name', 'type'],
      [{ type: 'A', contactEmail: 'not-an-email' }, 'contactEmail', 'format'],
      [{ type: 'A', createdAt: 'yesterday' }, 'createdAt', 'format'],
      [{ type: 'A', createdAt: '2025-02-30T10:00:00Z' }, 'createdAt', 'format'],
      [{ type: 'A', createdAt: new Date(NaN) }, 'createdAt', 'format'],
      [{ type: 'A', id: 'has spaces' }, 'id', 'format'],
      [{ type: 'A', data: [1, 2] }, 'data', 'json'],
      [{ type: 'A', data: { f: () => 1 } }, 'data.f', 'json'],
      [{ type: 'A', data: { n: 10n } }, 'data.n', 'json'],
      [{ type: 'A', data: { n: Infinity } }, 'data.n', 'json'],
      [{ type: 'A', data: { deep: { list: [0, NaN] } } }, 'data.deep.list[1]', 'json'],
      [{ type: 'A', data: cyclic }, 'data.self', 'json'],
      [{ type: 'A', data: JSON.parse('{"__proto__":{"admin":true}}') }, 'data', 'json'],
      [{ type: 'A', data: { at: new Date() } }, 'data.at', 'json'],
      [{ type: 'A', data: { blob: 'x'.repeat(20_000) } }, 'data', 'max'],
      [{ type: 'A', createAt: '2025-01-01T00:00:00Z' }, 'createAt', 'unknown-field'],
    ]
    for (const [input, field, rule] of cases) {
      const result = tab.tracker.track(input as never)
      expect(result, JSON.stringify({ field, rule })).toMatchObject({ ok: false, error: { code: 'invalid', field, rule } })
      if (!result.ok) expect(result.error.message.startsWith(field)).toBe(true)
    }
    expect(errors).toHaveLength(cases.length)
    const good = tab.tracker.track(demo(1))
    await tab.tracker.flush()
    expect([...world.proxy.delivered]).toEqual([(good as { id: string }).id])
  })

  it('normalizes dates given as Date, epoch ms or ISO with an offset to ISO 8601 UTC', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.identify('john@example.com')
    tab.tracker.track({ type: 'A', createdAt: new Date('2025-08-12T09:21:45Z') })
    tab.tracker.track({ type: 'A', createdAt: Date.parse('2025-08-12T09:21:45Z') })
    tab.tracker.track({ type: 'A', createdAt: '2025-08-12T11:21:45+02:00' })
    await tab.tracker.flush()
    expect(world.proxy.requests[0]!.body.batch.map((item) => item.createdAt)).toEqual(Array(3).fill('2025-08-12T09:21:45.000Z'))
  })

  it('refuses a bad email or signature in identify()', async () => {
    const world = new World()
    const tab = await world.open()
    expect(tab.tracker.identify('nope')).toMatchObject({ ok: false, error: { field: 'email', rule: 'format' } })
    expect(tab.tracker.identify(42 as never)).toMatchObject({ ok: false, error: { field: 'email', rule: 'type' } })
    expect(tab.tracker.identify('a@b.co', { signature: '' })).toMatchObject({ ok: false, error: { field: 'signature' } })
    expect(tab.tracker.identify('a@b.co', { signature: 'f'.repeat(64) })).toEqual({ ok: true })
  })
})

describe('tracker: contact, opt-out and caps', () => {
  it('holds engagements until identify(), then sends them with the contact and its signature', async () => {
    const world = new World()
    const tab = await world.open()
    tab.tracker.track(demo(1))
    tab.tracker.track(demo(2))
    await tab.tracker.flush()
    expect(world.proxy.requests).toHaveLength(0)
    expect(await tab.tracker.stats()).toMatchObject({ queued: 2, held: 2 })
    expect(tab.of('queued').map((event) => event.held)).toEqual([true, true])

    tab.tracker.identify('jane@example.com', { signature: 'a'.repeat(64) })
    await tab.tracker.flush()
    await until(() => world.proxy.delivered.size === 2)
    const body = world.proxy.requests[0]!.body
    expect(body.batch.map((item) => item.contactEmail)).toEqual(['jane@example.com', 'jane@example.com'])
    expect(body.batch.map((item) => item.name)).toEqual(['Step 1', 'Step 2'])
    expect(body.identity).toEqual({ 'jane@example.com': 'a'.repeat(64) })
  })

  it('remembers the contact across reloads until reset()', async () => {
    const world = new World()
    const first = await world.open()
    first.tracker.identify('jane@example.com')
    await first.tracker.shutdown()

    const second = await world.open()
    second.tracker.track(demo(1))
    await second.tracker.flush()
    await until(() => world.proxy.delivered.size === 1)
    expect(world.proxy.requests[0]!.body.batch[0]!.contactEmail).toBe('jane@example.com')

    second.tracker.reset()
    second.tracker.track(demo(2))
    await second.tracker.flush()
    expect(await second.tracker.stats()).toMatchObject({ held: 1 })
  })

  it('drops the oldest held engagements beyond maxHeld, and says so', async () => {
    const world = new World()
    const tab = await world.open({ maxHeld: 3 })
    const ids = Array.from({ length: 5 }, (_, i) => (tab.tracker.track(demo(i)) as { id: string }).id)
    await settle()
    expect(tab.of('dropped')).toEqual([{ type: 'dropped', ids: ids.slice(0, 2), reason: 'held-full' }])
    expect(await tab.tracker.stats()).toMatchObject({ held: 3 })
  })

  it('drops the oldest beyond maxQueueSize and what is older than maxAge, and says so', async () => {
    const world = new World()
    world.proxy.down = true
    const tab = await world.open({ maxQueueSize: 10, maxAge: 60_000 })
    tab.tracker.identify('john@example.com')
    const ids = Array.from({ length: 12 }, (_, i) => (tab.tracker.track(demo(i)) as { id: string }).id)
    await settle()
    expect(tab.of('dropped')).toEqual([{ type: 'dropped', ids: ids.slice(0, 2), reason: 'queue-full' }])

    await world.clock.advance(61_000)
    world.proxy.down = false
    tab.tracker.track(demo(99))
    await tab.tracker.flush()
    await world.clock.advance(300_000)
    // The 13th engagement pushed one more out; the other nine had waited longer than maxAge.
    const dropped = tab.of('dropped')
    expect(dropped.filter((event) => event.reason === 'queue-full').flatMap((event) => event.ids)).toEqual(ids.slice(0, 3))
    const expired = dropped.filter((event) => event.reason === 'expired').flatMap((event) => event.ids)
    expect(expired.sort()).toEqual(ids.slice(3).sort())
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('never drops below maxQueueSize because of what it remembers of the size: it counts before dropping', async () => {
    const world = new World()
    const tab = await world.open({ maxQueueSize: 10 })
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 8; i++) tab.tracker.track(demo(i))
    await tab.tracker.flush()
    expect(world.proxy.delivered.size).toBe(8)
    // Within a second of the last count, 8 + 8 appended would exceed 10; but 8 were delivered.
    world.proxy.down = true
    for (let i = 8; i < 16; i++) tab.tracker.track(demo(i))
    await settle()
    expect(tab.of('dropped')).toEqual([])
    expect(await tab.tracker.stats()).toMatchObject({ queued: 8 })
  })

  it('holds maxQueueSize against what other tabs appended, counting again after a second', async () => {
    const world = new World()
    world.proxy.down = true
    const first = await world.open({ maxQueueSize: 10 })
    const second = await world.open({ maxQueueSize: 10 })
    for (const tab of [first, second]) tab.tracker.identify('john@example.com')
    const ids = Array.from({ length: 6 }, (_, i) => (first.tracker.track(demo(i)) as { id: string }).id)
    await settle()
    // Later, so that the first tab's are the oldest.
    await world.clock.advance(10)
    for (let i = 0; i < 6; i++) second.tracker.track(demo(10 + i))
    await settle()
    await world.clock.advance(1_000)
    first.tracker.track(demo(99))
    await settle()
    // The second tab's own count dropped two; the first tab's 7th would be one too many only
    // by a count that includes the second tab's appends.
    expect(second.of('dropped').flatMap((event) => event.ids)).toEqual(ids.slice(0, 2))
    expect(first.of('dropped').flatMap((event) => event.ids)).toEqual(ids.slice(2, 3))
    expect(await first.tracker.stats()).toMatchObject({ queued: 10 })
  })

  it('optOut() purges the outbox, refuses tracking, and survives a reload; optIn() resumes', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 100 })
    tab.tracker.identify('john@example.com')
    tab.tracker.track(demo(1))
    await settle()
    tab.tracker.optOut()
    await tab.tracker.flush()
    expect(tab.tracker.track(demo(2))).toMatchObject({ ok: false, error: { code: 'opted-out' } })
    expect(tab.of('dropped')[0]).toMatchObject({ reason: 'opted-out' })
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0 })
    await tab.tracker.shutdown()

    const reloaded = await world.open()
    expect(reloaded.tracker.track(demo(3))).toMatchObject({ ok: false, error: { code: 'opted-out' } })
    reloaded.tracker.optIn()
    expect(reloaded.tracker.track(demo(4)).ok).toBe(true)
    await reloaded.tracker.flush()
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('optOut() in one tab also discards what another tab was still writing, and sends none of it', async () => {
    const world = new World()
    const leader = await world.open({ flushAt: 1 })
    const writer = await world.open({ flushAt: 1 })
    writer.tracker.identify('john@example.com')
    await settle()
    const ids = Array.from({ length: 1_200 }, (_, i) => (writer.tracker.track(demo(i)) as { id: string }).id)
    // The burst is being stored, slice after slice, when the other tab opts out.
    await new Promise((resolve) => setImmediate(resolve))
    leader.tracker.optOut()
    await world.clock.advance(5_000)
    await Promise.all([leader.tracker.flush(), writer.tracker.flush()])
    await world.clock.advance(5_000)

    expect(world.proxy.delivered.size).toBe(0)
    expect(await leader.tracker.stats()).toMatchObject({ queued: 0 })
    const dropped = [...leader.of('dropped'), ...writer.of('dropped')].flatMap((event) => event.ids)
    expect(new Set(dropped)).toEqual(new Set(ids))
  })

  it('optOut() in one tab empties the memory outbox of a tab without IndexedDB, which its clear cannot reach', async () => {
    const world = new World()
    const memoryOnly = await world.open({ flushAt: 10_000 }, { createStore: undefined })
    const other = await world.open({ flushAt: 10_000 })
    await until(async () => (await memoryOnly.tracker.stats()).leader)
    memoryOnly.tracker.identify('john@example.com')
    const ids = [1, 2, 3].map((i) => (memoryOnly.tracker.track(demo(i)) as { id: string }).id)
    await settle()
    expect(await memoryOnly.tracker.stats()).toMatchObject({ queued: 3, storage: 'memory' })

    other.tracker.optOut()
    await settle()
    await memoryOnly.tracker.flush()
    expect(await memoryOnly.tracker.stats()).toMatchObject({ queued: 0 })
    expect(memoryOnly.of('dropped')).toEqual([{ type: 'dropped', ids, reason: 'opted-out' }])
    expect(world.proxy.delivered.size).toBe(0)
  })

  it('keeps tracking after optIn() when calls made before the stored opt-out was read were discarded', async () => {
    const world = new World()
    const first = await world.open()
    first.tracker.optOut()
    await first.tracker.shutdown()

    // Tracked at once, before the stored opt-out is read: accepted, then not kept.
    const page = new FakePage(world.clock, world.origin, world.proxy.fetch)
    const tracker = createTracker({ endpoint: ENDPOINT, platform: page.platform() })
    tracker.identify('john@example.com')
    expect(tracker.track(demo(1)).ok).toBe(true)
    await settle()
    tracker.optIn()
    expect(tracker.track(demo(2)).ok).toBe(true)
    await tracker.flush()
    expect(await tracker.stats()).toMatchObject({ queued: 0 })
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('releases an engagement held for want of a contact when identify() follows in the same tick', async () => {
    const world = new World()
    const tab = await world.open()
    expect(tab.tracker.track(demo(1)).ok).toBe(true)
    tab.tracker.identify('john@example.com')
    await tab.tracker.flush()
    expect(await tab.tracker.stats()).toMatchObject({ queued: 0, held: 0 })
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('releases what was held with the contact identify() was given, though reset() follows before the release runs', async () => {
    const world = new World()
    const tab = await world.open({ flushAt: 1 })
    const before = (tab.tracker.track(demo(1)) as { id: string }).id
    tab.tracker.identify('john@example.com', { signature: 'a'.repeat(64) })
    tab.tracker.reset()
    // Tracked after the reset: held until the next identify().
    tab.tracker.track(demo(2))
    await world.runUntil(() => world.proxy.delivered.has(before), 10_000)
    const [item] = world.proxy.requests.flatMap((request) => request.body.batch)
    expect(item).toMatchObject({ id: before, contactEmail: 'john@example.com' })
    expect(world.proxy.requests[0]!.body.identity).toEqual({ 'john@example.com': 'a'.repeat(64) })
    await tab.tracker.flush()
    expect(await tab.tracker.stats()).toMatchObject({ queued: 1, held: 1 })
    expect(world.proxy.delivered.size).toBe(1)
  })

  it('after shutdown() refuses calls with a clear error', async () => {
    const world = new World()
    const tab = await world.open()
    await tab.tracker.shutdown()
    expect(tab.tracker.track(demo(1))).toMatchObject({ ok: false, error: { code: 'closed' } })
  })
})
