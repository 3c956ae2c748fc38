/**
 * The backend client against the strict emulator: calls become full batches, bad input is
 * answered per engagement, backpressure holds memory, a deadline answers busy, close() sends what
 * is pending, and ids are bound to their content as at the proxy.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createEmulator, type Emulator, type EmulatorOptions } from '../src/emulator/index.js'
import { createClient, type Client, type ClientOptions } from '../src/server/index.js'

const KEY = 'sk_test_fake_client_test_0123456789abcdef'
const opened: Client[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((client) => client.close()))
})

function setup(options: Partial<ClientOptions> = {}, emulatorOptions: Partial<EmulatorOptions> = {}) {
  const emulator: Emulator = createEmulator({ apiKey: KEY, ...emulatorOptions })
  const client = createClient({
    apiKey: KEY,
    upstreamUrl: 'https://conversion.test/api',
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
    ...options,
  })
  opened.push(client)
  return { client, emulator }
}

/** A meeting with its own id and time: sent again, it is the same engagement. */
const meeting = (n: number, extra: Record<string, unknown> = {}) => ({
  id: `m-${n}`,
  contactEmail: 'john@example.com',
  type: 'MEETING',
  name: `Call ${n}`,
  createdAt: '2025-08-12T09:21:45Z',
  ...extra,
})

describe('the backend client', () => {
  it('turns many concurrent calls into full batches, one result per call', async () => {
    const { client, emulator } = setup()
    const results = await Promise.all(Array.from({ length: 1_000 }, (_, n) => client.track(meeting(n))))
    expect(results.every((result) => result.status === 'accepted')).toBe(true)
    expect(emulator.requests().map((request) => request.count)).toEqual([200, 200, 200, 200, 200])
    expect(emulator.ids()).toHaveLength(1_000)
  })

  it('fixes id and createdAt at call time, and answers bad input per engagement without affecting the others', async () => {
    const time = Date.parse('2025-08-12T09:21:45.123Z')
    let uuids = 0
    const clock = {
      now: () => time,
      setTimeout: (f: () => void, ms: number) => setTimeout(f, ms),
      clearTimeout: (h: unknown) => clearTimeout(h as never),
    }
    const { client, emulator } = setup({ clock, randomUUID: () => `uuid-${++uuids}` })
    const results = await client.trackMany([
      { contactEmail: 'john@example.com', type: 'MEETING' },
      { contactEmail: 'not an email', type: 'MEETING' },
      // biome-ignore lint/correctness/noPrecisionLoss: a number beyond 2^53, which must be refused
      { contactEmail: 'john@example.com', type: 'CALL', data: { big: 12345678901234567890 } },
      null as never,
    ])
    expect(results[0]).toEqual({ status: 'accepted', id: expect.stringMatching(/^uuid-/) })
    expect(results[1]).toMatchObject({
      status: 'rejected',
      field: 'contactEmail',
      rule: 'format',
      reason: expect.stringContaining('contactEmail'),
    })
    expect(results[2]).toMatchObject({ status: 'rejected', field: 'data.big' })
    expect(results[3]).toMatchObject({ status: 'rejected', field: 'engagement' })
    expect(emulator.engagements().map((item) => item.engagement.createdAt)).toEqual(['2025-08-12T09:21:45.123Z'])
  })

  it('answers a re-sent engagement (same id, same content, same createdAt) as a duplicate, and the same id with other content as rejected', async () => {
    const { client, emulator } = setup()
    expect(await client.track(meeting(1))).toEqual({ status: 'accepted', id: 'm-1' })
    const again = await client.trackMany([meeting(1), meeting(1, { name: 'Another call' }), meeting(2), meeting(2)])
    expect(again.map((result) => result.status)).toEqual(['duplicate', 'rejected', 'accepted', 'duplicate'])
    expect(emulator.ids()).toEqual(['m-1', 'm-2'])
  })

  it('sends again alone what the Coalescer left unchecked, so that every valid engagement of a batch with many refused ones is delivered', async () => {
    const { client, emulator } = setup()
    emulator.setFaults({ rejectTypes: ['REFUSED'] })
    // One in eight refused: finding them all by halving costs more than a request's isolation budget.
    const inputs = Array.from({ length: 120 }, (_, n) => meeting(n, n % 8 === 3 ? { type: 'REFUSED' } : {}))
    const results = await client.trackMany(inputs)
    expect(results.filter((result) => result.status === 'accepted')).toHaveLength(105)
    const rejected = results.filter((result) => result.status === 'rejected')
    expect(rejected.map((result) => result.id)).toEqual(inputs.filter((input) => input.type === 'REFUSED').map((input) => input.id))
    expect(rejected.every((result) => result.status === 'rejected' && !/isolation budget/.test(result.reason))).toBe(true)
    expect(new Set(emulator.ids()).size).toBe(105)
    expect(emulator.duplicates()).toEqual([])
    // More isolation requests than one request's budget: the batch spent its own, and each
    // engagement sent again alone was checked by a request of its own.
    expect(client.stats().coalescer?.totals.isolations).toBeGreaterThan(50)
  }, 60_000)

  it('holds at most maxPending engagements, making callers wait rather than growing', async () => {
    const { client, emulator } = setup({ maxPending: 200 }, { faults: { latencyMs: 100 } })
    let most = 0
    const watch = setInterval(() => (most = Math.max(most, client.stats().pending)), 5)
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, call) => client.trackMany(Array.from({ length: 200 }, (_, n) => meeting(call * 1_000 + n)))),
    )
    clearInterval(watch)
    expect(results.flat().every((result) => result.status === 'accepted')).toBe(true)
    expect(most).toBeLessThanOrEqual(200)
    expect(emulator.ids()).toHaveLength(1_000)
  })

  it('answers busy once its deadline passes, and sends what was handed over before close() returns', async () => {
    const { client, emulator } = setup({ deadline: 200 }, { faults: { latencyMs: 1_000 } })
    expect(await client.track(meeting(1))).toMatchObject({ status: 'busy', id: 'm-1' })
    const later = createClient({
      apiKey: KEY,
      upstreamUrl: 'https://conversion.test/api',
      fetch: (input, init) => emulator.fetch(new Request(input, init)),
    })
    void later.track(meeting(2))
    void later.trackMany([meeting(3), meeting(4)])
    await later.close()
    expect(emulator.ids()).toEqual(expect.arrayContaining(['m-2', 'm-3', 'm-4']))
    expect(await later.track(meeting(5))).toMatchObject({ status: 'busy', reason: 'the client is closed' })
  })

  it('refuses options it cannot use, naming them, and redisUrl where Redis cannot be reached from', () => {
    expect(() => createClient({ apiKey: '' })).toThrow('`apiKey` must be your Conversion API key')
    expect(() => createClient({ apiKey: KEY, maxPending: 10 })).toThrow('`maxPending` must be a whole number of at least 200 (got 10)')
    expect(() => createClient({ apiKey: KEY, redisUrl: 'redis://127.0.0.1:6379' })).toThrow('`redisUrl` must be given on Node only')
  })
})
