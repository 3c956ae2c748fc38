import { describe, expect, it } from 'vitest'
import { createEntry, createOutbox, type OutboxEntry } from '../src/tracker/outbox.js'
import { indexedDbStore, withFallback } from '../src/tracker/store.js'
import { FakeOrigin, until } from './helpers/platform.js'

const nextTask = () => new Promise((resolve) => setImmediate(resolve))

/** Entries of one tick; `held` ones have no contact yet. */
function entries(tick: number, count: number, held = false): OutboxEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const engagement = {
      id: `t${tick}-${i}`,
      type: 'PRODUCT_ACTIVITY',
      createdAt: '2025-08-12T09:21:45Z',
      ...(!held && { contactEmail: 'john@example.com' }),
    }
    return createEntry(engagement, undefined, 1_000 + tick, i)
  })
}

/** An outbox on IndexedDB that fails loudly; `onStored` hears of each write. */
function outboxOn(origin: FakeOrigin, onStored: (entries: OutboxEntry[]) => void = () => {}) {
  const fail = (error: unknown) => {
    throw error
  }
  return createOutbox({
    store: withFallback(indexedDbStore(origin.createStore('outbox-test', 'outbox')), fail),
    options: { maxQueueSize: 100_000, maxHeld: 1_000, platform: { now: () => Date.now() } },
    session: { ready: Promise.resolve(), optedOut: false },
    onStored,
    onDrop: () => {},
    onFault: fail,
  })
}

describe('outbox: a burst written while the sender reads', () => {
  it('lets the read of the first batch through between the burst’s writes, not after all of them', async () => {
    const settled: string[] = []
    // Told once a write is stored whole (a write takes every append made while the one before ran):
    // the ticks whose entries it held, in order (`t3-…` ids are the fourth task's).
    const ticksOf = (stored: OutboxEntry[]) => new Set(stored.map((entry) => entry.engagement.id.split('-')[0]!.slice(1)))
    const outbox = outboxOn(new FakeOrigin(), (stored) => ticksOf(stored).forEach((tick) => settled.push(`append ${tick}`)))
    // A page tracking 1,000 engagements per task, five tasks in a row.
    for (let tick = 0; tick < 5; tick++) {
      outbox.append(entries(tick, 1_000))
      await nextTask()
    }
    await until(() => settled.includes('append 0'))
    // The sender hears of the first append and reads its first batch.
    const head = outbox.head(undefined, 200).then((rows) => {
      settled.push('head')
      return rows
    })
    const rows = await head
    await outbox.written()

    expect(rows.map((row) => row.engagement.id)).toEqual(entries(0, 200).map((entry) => entry.engagement.id))
    // Created after every write of the burst had been, the read would wait for all of them.
    expect(settled.indexOf('head')).toBeLessThan(settled.indexOf('append 4'))
    // Told slice by slice (a write stores a few hundred at a time), in order.
    const appends = settled.filter((name) => name.startsWith('append'))
    expect(appends.filter((name, i) => name !== appends[i - 1])).toEqual(['append 0', 'append 1', 'append 2', 'append 3', 'append 4'])
    expect(appends.length).toBeGreaterThan(5)
  })

  it('stores every entry of the burst, in order, and counts them', async () => {
    const origin = new FakeOrigin()
    const outbox = outboxOn(origin)
    const writesBefore = origin.writes
    for (let tick = 0; tick < 3; tick++) {
      outbox.append(entries(tick, 500))
      await nextTask()
    }
    await outbox.written()

    expect(await outbox.count()).toEqual({ queued: 1_500, held: 0 })
    const stored: string[] = []
    for (let after: OutboxEntry | undefined; ; ) {
      const rows = await outbox.head(after, 200)
      if (rows.length === 0) break
      stored.push(...rows.map((row) => row.engagement.id))
      after = rows.at(-1)
    }
    expect(stored).toEqual([0, 1, 2].flatMap((tick) => entries(tick, 500).map((entry) => entry.engagement.id)))
    // Slices of at most a few hundred entries: more transactions than appends, far fewer than entries.
    expect(origin.writes - writesBefore).toBeGreaterThan(3)
    expect(origin.writes - writesBefore).toBeLessThan(20)
  })
})

describe('outbox: held entries released while a burst of them is being written', () => {
  it('releases every one of them, not only the slices already stored', async () => {
    const released: OutboxEntry[] = []
    const outbox = outboxOn(new FakeOrigin(), (stored) => released.push(...stored))
    outbox.append(entries(0, 1_000, true))
    // The contact becomes known while the burst's first slice is being stored.
    await nextTask()
    outbox.release({ email: 'john@example.com' })
    await outbox.written()

    expect(released).toHaveLength(1_000)
    expect(await outbox.count()).toEqual({ queued: 1_000, held: 0 })
  })
})

describe('outbox: cleared while a burst is being written', () => {
  it('keeps nothing of the burst, not even the slices stored after the clear was asked for', async () => {
    const outbox = outboxOn(new FakeOrigin())
    outbox.append(entries(0, 1_000))
    await nextTask()
    const cleared = await outbox.clear()
    await outbox.written()

    expect(cleared).toHaveLength(1_000)
    expect(await outbox.count()).toEqual({ queued: 0, held: 0 })
  })
})
