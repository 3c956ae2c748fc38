import { describe, expect, it } from 'vitest'
import { createEntry } from '../src/tracker/outbox.js'
import { uuidFrom } from '../src/tracker/platform.js'
import { requestBody } from '../src/tracker/request.js'
import { demo, World } from './helpers/tracker.js'

describe('tracker: input scripts get wrong', () => {
  it('refuses identify(email, signature): the signature must come as { signature }, never be dropped silently', async () => {
    const world = new World()
    const tab = await world.open()
    for (const options of ['1755000000.abcdef', 42, true, () => undefined]) {
      expect(tab.tracker.identify('john@example.com', options as never)).toEqual({
        ok: false,
        error: { code: 'invalid', field: 'options', rule: 'type', message: 'options must be an object' },
      })
    }
    // The contact is unchanged: engagements wait for one.
    expect(tab.tracker.track(demo(1))).toMatchObject({ ok: true })
    expect(tab.of('queued')[0]).toMatchObject({ held: true })
    expect(tab.tracker.identify('john@example.com', { signature: 'c'.repeat(64) })).toEqual({ ok: true })
    expect(tab.tracker.identify('john@example.com')).toEqual({ ok: true })
    expect(tab.tracker.identify('john@example.com', null as never)).toEqual({ ok: true })
  })

  it('refuses what is not an object with the same error as the contract', async () => {
    const world = new World()
    const tab = await world.open()
    expect(tab.tracker.track('PRODUCT_ACTIVITY' as never)).toEqual({
      ok: false,
      error: { code: 'invalid', field: 'engagement', rule: 'type', message: 'engagement must be an object' },
    })
    expect(tab.tracker.track(undefined as never)).toMatchObject({ ok: false, error: { field: 'engagement', rule: 'required' } })
    expect(tab.tracker.track([demo(1)] as never)).toMatchObject({ ok: false, error: { field: 'engagement', rule: 'type' } })
  })
})

describe('tracker: small pieces', () => {
  it('makes version 4 UUIDs from random bytes', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17)
    expect(uuidFrom(bytes)).toBe('00112233-4455-4677-8899-aabbccddeeff')
    expect(uuidFrom(new Uint8Array(16).fill(255))).toMatch(/^ffffffff-ffff-4fff-bfff-ffffffffffff$/)
  })

  it('sends identity only when a signature is known, in the body shape the proxy expects', () => {
    const engagement = { id: 'e-1', type: 'T', createdAt: '2025-08-12T09:21:45Z', contactEmail: 'john@example.com' }
    expect(requestBody([createEntry(engagement, undefined, 1, 0)])).toBe(JSON.stringify({ batch: [engagement] }))
    expect(requestBody([createEntry(engagement, 'sig', 1, 0), createEntry({ ...engagement, id: 'e-2' }, undefined, 1, 1)])).toBe(
      JSON.stringify({ batch: [engagement, { ...engagement, id: 'e-2' }], identity: { 'john@example.com': 'sig' } }),
    )
  })
})
