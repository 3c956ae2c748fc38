import { describe, expect, it } from 'vitest'
import { createEntry, isHeld, trackedAt } from '../src/tracker/outbox.js'
import { releasedEntry } from '../src/tracker/entry.js'
import { byteLength, carriedBytes, ENVELOPE_BYTES, requestBody } from '../src/tracker/request.js'
import { createSession, type SessionMessage } from '../src/tracker/session.js'
import { createSettings } from '../src/tracker/settings.js'
import { memoryStore } from '../src/tracker/store.js'
import { flushPromises } from './helpers/clock.js'

async function storedSettings(contact?: { email: string }, optedOut?: true) {
  const settings = createSettings(memoryStore())
  await settings.write('contact', contact)
  await settings.write('opted-out', optedOut)
  return settings
}

describe('session: contact and opt-out across visits and tabs', () => {
  it('takes what an earlier visit stored, once it is read', async () => {
    const settings = await storedSettings({ email: 'jane@example.com' }, true)
    const told: SessionMessage[] = []
    const session = createSession(settings, (message) => told.push(message))
    expect([session.contact, session.optedOut]).toEqual([undefined, false])
    await session.ready
    expect([session.contact, session.optedOut]).toEqual([{ email: 'jane@example.com' }, true])
    expect(told).toEqual([])
  })

  it('lets a change made before that, here or in another tab, win over it; stores and tells only its own', async () => {
    const settings = await storedSettings({ email: 'jane@example.com' }, true)
    const told: SessionMessage[] = []
    const session = createSession(settings, (message) => told.push(message))
    session.change({ type: 'contact', contact: { email: 'john@example.com', signature: 's'.repeat(64) } })
    session.heard({ type: 'opt-out', optedOut: false })
    await session.ready
    await flushPromises()
    expect([session.contact, session.optedOut]).toEqual([{ email: 'john@example.com', signature: 's'.repeat(64) }, false])
    expect(told).toEqual([{ type: 'contact', contact: { email: 'john@example.com', signature: 's'.repeat(64) } }])
    expect(await settings.read('contact')).toEqual({ email: 'john@example.com', signature: 's'.repeat(64) })
    // What another tab said, it stored itself.
    expect(await settings.read('opted-out')).toBe(true)
  })

  it('reads again what other tabs stored when reloaded; a change made here just before, or heard meanwhile, wins', async () => {
    const settings = await storedSettings({ email: 'jane@example.com' })
    const session = createSession(settings, () => undefined)
    await session.ready
    // Another tab changes both, and this page hears none of it.
    await settings.write('contact', { email: 'john@example.com' })
    await settings.write('opted-out', true)
    await session.reload()
    expect([session.contact, session.optedOut]).toEqual([{ email: 'john@example.com' }, true])

    session.change({ type: 'contact', contact: { email: 'ann@example.com' } })
    const reloaded = session.reload()
    session.heard({ type: 'opt-out', optedOut: false })
    await reloaded
    expect([session.contact, session.optedOut]).toEqual([{ email: 'ann@example.com' }, false])
  })

  it('stores an opt-out as present and an opt-in as absent, and a reset as no contact', async () => {
    const settings = await storedSettings()
    const session = createSession(settings, () => undefined)
    session.change({ type: 'opt-out', optedOut: true })
    session.change({ type: 'contact', contact: undefined })
    await session.ready
    await flushPromises()
    expect(await settings.read('opted-out')).toBe(true)
    session.change({ type: 'opt-out', optedOut: false })
    await flushPromises()
    expect(await settings.read('opted-out')).toBeUndefined()
    expect(await settings.read('contact')).toBeUndefined()
  })
})

describe('outbox entries: the key keeps the order, and nobody else reads it', () => {
  const engagement = (id: string, contactEmail?: string) => ({
    id,
    type: 'T',
    createdAt: '2025-08-12T09:00:00Z',
    ...(contactEmail && { contactEmail }),
  })

  it('orders by time, then by call, whatever the ids; says when and whether it is held', () => {
    const later = createEntry(engagement('a', 'jane@example.com'), undefined, 2_000, 0)
    const earlier = createEntry(engagement('z', 'jane@example.com'), undefined, 1_000, 5)
    const sameTimeNext = createEntry(engagement('b', 'jane@example.com'), undefined, 1_000, 6)
    expect([later, sameTimeNext, earlier].sort((x, y) => (x.key < y.key ? -1 : 1))).toEqual([earlier, sameTimeNext, later])
    expect(trackedAt(later)).toBe(2_000)
    expect(isHeld(later)).toBe(false)
    expect(isHeld(createEntry(engagement('c'), undefined, 1_000, 7))).toBe(true)
  })

  it('releases a held entry in the same place of the order, with its contact, signature and new size', () => {
    const held = createEntry(engagement('c'), undefined, 1_000, 7)
    const before = createEntry(engagement('x', 'jane@example.com'), undefined, 1_000, 6)
    const released = releasedEntry(held, { email: 'jane@example.com', signature: 'sig' })
    expect(isHeld(released)).toBe(false)
    expect(released.engagement).toEqual({ ...held.engagement, contactEmail: 'jane@example.com' })
    expect(released.signature).toBe('sig')
    expect(carriedBytes(released)).toBeGreaterThan(carriedBytes(held))
    expect(trackedAt(released)).toBe(1_000)
    expect(before.key < released.key).toBe(true)
  })

  it('counts a signed entry in the bytes its request body takes, a non-ASCII contact included', () => {
    for (const email of ['jane@example.com', 'zoë@exämple.com', 'δοκιμή@παράδειγμα.δοκιμή']) {
      const signed = releasedEntry(createEntry(engagement('c'), undefined, 1_000, 7), { email, signature: 'sig' })
      const counted = ENVELOPE_BYTES + 2 + carriedBytes(signed)
      expect(counted).toBeGreaterThanOrEqual(byteLength(requestBody([signed])))
    }
  })
})
