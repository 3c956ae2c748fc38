import { afterEach, describe, expect, it, vi } from 'vitest'
import { LIMITS } from '../src/contract.js'
import { createEmulator, type Emulator, type EmulatorOptions, type Sleep } from '../src/emulator/index.js'
import { sleepWithTimer } from '../src/emulator/timing.js'

const KEY = 'sk_test_emulator_0123456789abcdef'
const ORIGIN = 'http://emulator.test'
const BATCH_URL = `${ORIGIN}/api/v1/activities/batch`

function engagement(n: number, overrides: Record<string, unknown> = {}) {
  return {
    id: `e-${n}`,
    contactEmail: 'john@example.com',
    type: 'PRODUCT_ACTIVITY',
    createdAt: '2025-08-12T09:21:45Z',
    ...overrides,
  }
}

const batchOf = (count: number, first = 0) => ({ batch: Array.from({ length: count }, (_, i) => engagement(first + i)) })

interface PostOptions {
  key?: string | null
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
  url?: string
}

/** A batch request as a proxy would send it; `key: null` leaves the header out. */
function post({ key = KEY, body = batchOf(1), headers = {}, signal, url = BATCH_URL }: PostOptions = {}): Request {
  return new Request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-api-key': key }), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  })
}

async function answer(emulator: Emulator, request: Request) {
  const response = await emulator.fetch(request)
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> }
}

/** An emulator on a clock that moves only when the test says so. */
function emulatorAt(time: { now: number }, options: Partial<EmulatorOptions> = {}): Emulator {
  return createEmulator({ apiKey: KEY, now: () => time.now, ...options })
}

describe('emulator: routes and auth', () => {
  it.each([
    ['a missing key', 401, /X-API-Key/, () => post({ key: null })],
    ['a wrong key', 401, /Invalid API key/, () => post({ key: 'sk_test_wrong' })],
    ['a wrong key of the same length', 401, /Invalid API key/, () => post({ key: KEY.replace(/.$/, 'X') })],
    ['an empty key', 401, /Invalid API key/, () => post({ key: '' })],
    ['GET on the route', 405, /POST/, () => new Request(BATCH_URL, { headers: { 'x-api-key': KEY } })],
    ['an unknown route', 404, /POST \/api\/v1\/activities\/batch/, () => post({ url: `${ORIGIN}/api/v1/activities` })],
    ['the route without its base path', 404, /No route/, () => post({ url: `${ORIGIN}/v1/activities/batch` })],
  ])('answers %s with %i and a message', async (_, status, message, request) => {
    const emulator = createEmulator({ apiKey: KEY })
    const result = await answer(emulator, request())
    expect(result.status).toBe(status)
    expect(result.body).toEqual({ message: expect.stringMatching(message) })
    expect(result.headers.get('content-type')).toMatch(/^application\/json/)
    expect(emulator.engagements()).toEqual([])
  })

  it('names the allowed method on a 405', async () => {
    const response = await createEmulator({ apiKey: KEY }).fetch(new Request(BATCH_URL, { method: 'PUT' }))
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('POST')
  })

  it('sends no CORS headers on the API: browsers must never call Conversion directly', async () => {
    const response = await createEmulator({ apiKey: KEY }).fetch(post({ headers: { origin: 'http://localhost:3000' } }))
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('accepts the right key and records every engagement with its arrival time and request seq', async () => {
    const time = { now: 1_000_000 }
    const emulator = emulatorAt(time)
    expect(await answer(emulator, post({ body: batchOf(2) }))).toMatchObject({ status: 200, body: { accepted: 2 } })
    time.now += 50
    expect(await answer(emulator, post({ body: batchOf(1, 2) }))).toMatchObject({ status: 200, body: { accepted: 1 } })

    expect(emulator.engagements()).toEqual([
      { position: 1, requestSeq: 1, receivedAt: 1_000_000, engagement: engagement(0) },
      { position: 2, requestSeq: 1, receivedAt: 1_000_000, engagement: engagement(1) },
      { position: 3, requestSeq: 2, receivedAt: 1_000_050, engagement: engagement(2) },
    ])
    expect(emulator.ids()).toEqual(['e-0', 'e-1', 'e-2'])
    expect(emulator.requests()).toEqual([
      expect.objectContaining({
        seq: 1,
        at: 1_000_000,
        method: 'POST',
        path: '/api/v1/activities/batch',
        status: 200,
        count: 2,
        durationMs: 0,
        fault: null,
      }),
      expect.objectContaining({ seq: 2, at: 1_000_050, status: 200, count: 1 }),
    ])
    expect(emulator.requests()[0]?.bytes).toBe(JSON.stringify(batchOf(2)).length)
  })

  it('does not de-duplicate ids: a re-sent engagement is recorded again and reported', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    await emulator.fetch(post({ body: batchOf(2) }))
    await emulator.fetch(post({ body: batchOf(2, 1) }))
    expect(emulator.ids()).toEqual(['e-0', 'e-1', 'e-1', 'e-2'])
    expect(emulator.duplicates()).toEqual(['e-1'])
  })
})

describe('emulator: bodies', () => {
  it.each([
    ['malformed JSON', /^request body must be JSON/, { body: '{"batch": [' }],
    ['an empty body', /^request body is empty/, { body: '' }],
    ['a body not sent as JSON', /^Content-Type must be application\/json/, { headers: { 'content-type': 'text/plain' } }],
    ['a body without batch', /^batch is required/, { body: { items: [] } }],
    ['a batch that is not an array', /^batch must be an array/, { body: { batch: {} } }],
    ['a JSON array', /^body must be an object/, { body: [engagement(1)] }],
    ['an empty batch', /^batch must hold at least one engagement/, { body: { batch: [] } }],
    ['201 engagements', /^batch must be at most 200 engagements \(it has 201\)/, { body: batchOf(201) }],
    ['an unknown top-level field', /^extra is not a known field/, { body: { ...batchOf(1), extra: true } }],
    ['an unknown engagement field', /^batch\[0\]\.createAt is not a known field/, { body: { batch: [engagement(0, { createAt: 'x' })] } }],
  ] satisfies [string, RegExp, PostOptions][])('refuses %s with 400 naming the problem', async (_, message, options) => {
    const emulator = createEmulator({ apiKey: KEY })
    const result = await answer(emulator, post(options))
    expect(result).toMatchObject({ status: 400, body: { message: expect.stringMatching(message) } })
    expect(emulator.engagements()).toEqual([])
  })

  it('refuses the whole batch when one engagement is invalid, naming its field', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    const body = batchOf(5)
    body.batch[3] = engagement(3, { contactEmail: 'not-an-email' })
    const result = await answer(emulator, post({ body }))
    expect(result.status).toBe(400)
    expect(result.body.message).toMatch(/^batch\[3\]\.contactEmail must be an email address/)
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: 400, count: 5 })
  })

  it('accepts exactly the batch limit, and holds a smaller configured one', async () => {
    expect((await answer(createEmulator({ apiKey: KEY }), post({ body: batchOf(LIMITS.batchSize) }))).status).toBe(200)
    const small = createEmulator({ apiKey: KEY, maxBatchSize: 5 })
    expect(await answer(small, post({ body: batchOf(6) }))).toMatchObject({
      status: 400,
      body: { message: 'batch must be at most 5 engagements (it has 6)' },
    })
  })

  it('answers 413 to a body above maxBodyBytes, whether its length is declared or streamed', async () => {
    const emulator = createEmulator({ apiKey: KEY, maxBodyBytes: 100 })
    const big = batchOf(3)
    expect(await answer(emulator, post({ body: big }))).toMatchObject({
      status: 413,
      body: { message: 'request body must be at most 100 bytes' },
    })
    const text = JSON.stringify(big)
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text))
        controller.close()
      },
    })
    const streamed = new Request(BATCH_URL, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect((await answer(emulator, streamed)).status).toBe(413)
    expect(emulator.engagements()).toEqual([])
  })

  it('refuses a body that is not UTF-8', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    const request = new Request(BATCH_URL, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: new Uint8Array([0x7b, 0xff, 0x7d]),
    })
    expect(await answer(emulator, request)).toMatchObject({ status: 400, body: { message: 'request body must be UTF-8 text' } })
  })
})

describe('emulator: the sliding rate window', () => {
  it('answers the 11th start within 1000 ms with 429, and admits again once the first start left the window', async () => {
    const time = { now: 0 }
    const emulator = emulatorAt(time)
    for (let i = 0; i < 10; i++) {
      time.now = i * 100
      expect((await answer(emulator, post({ body: batchOf(1, i) }))).status).toBe(200)
    }
    time.now = 999
    const refused = await answer(emulator, post({ body: batchOf(1, 10) }))
    expect(refused).toMatchObject({ status: 429, body: { message: expect.stringMatching(/at most 10 requests in any 1000 ms/) } })
    expect(refused.headers.get('retry-after')).toBeNull()
    time.now = 1000
    expect((await answer(emulator, post({ body: batchOf(1, 11) }))).status).toBe(200)

    expect(emulator.ids()).not.toContain('e-10')
    expect(emulator.maxStartsInAnyWindow()).toBe(11)
  })

  it('is sliding, not fixed: a start just after a second boundary still counts the previous starts', async () => {
    const time = { now: 0 }
    const emulator = emulatorAt(time)
    for (let i = 0; i < 10; i++) {
      time.now = 500 + i * 10
      expect((await answer(emulator, post())).status).toBe(200)
    }
    // A fixed 1-second bucket would have reset at t=1000.
    time.now = 1100
    expect((await answer(emulator, post())).status).toBe(429)
    time.now = 1499
    expect((await answer(emulator, post())).status).toBe(429)
    time.now = 1500
    expect((await answer(emulator, post())).status).toBe(200)
  })

  it('counts only authenticated starts, and honours configured limits', async () => {
    const time = { now: 0 }
    const emulator = emulatorAt(time, { maxRequestsPerSecond: 2, windowMs: 500 })
    for (let i = 0; i < 5; i++) await emulator.fetch(post({ key: 'sk_test_wrong' }))
    expect(emulator.maxStartsInAnyWindow()).toBe(0)
    expect((await answer(emulator, post())).status).toBe(200)
    expect((await answer(emulator, post())).status).toBe(200)
    expect((await answer(emulator, post())).status).toBe(429)
    time.now = 500
    expect((await answer(emulator, post())).status).toBe(200)
    expect(emulator.maxStartsInAnyWindow()).toBe(3)
  })
})

describe('emulator: faults', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('errorRate 1 answers 500 to every admitted request and records nothing', async () => {
    const emulator = createEmulator({ apiKey: KEY, faults: { errorRate: 1 } })
    const result = await answer(emulator, post())
    expect(result).toMatchObject({ status: 500, body: { message: expect.any(String) } })
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: 500, fault: 'error' })
  })

  it('samples errorRate with the injected random, calling it only for faults that are on', async () => {
    const draws = [0.4, 0.6]
    const random = vi.fn(() => draws.shift() ?? 0)
    const emulator = createEmulator({ apiKey: KEY, random, faults: { errorRate: 0.5 } })
    expect((await emulator.fetch(post())).status).toBe(500)
    expect((await emulator.fetch(post())).status).toBe(200)
    expect(random).toHaveBeenCalledTimes(2)
  })

  it('a storm answers 429 to every request while on, or until the given time', async () => {
    const time = { now: 10_000 }
    const emulator = emulatorAt(time, { faults: { rateLimitStorm: true } })
    expect(await answer(emulator, post())).toMatchObject({ status: 429, body: { message: expect.stringMatching(/storm/) } })
    expect(emulator.requests()[0]?.fault).toBe('storm')
    emulator.setFaults({ rateLimitStorm: 12_000 })
    time.now = 11_999
    expect((await answer(emulator, post())).status).toBe(429)
    time.now = 12_000
    expect((await answer(emulator, post())).status).toBe(200)
    expect(emulator.engagements()).toHaveLength(1)
  })

  it('retryAfterSeconds adds Retry-After to every 429', async () => {
    const time = { now: 0 }
    const emulator = emulatorAt(time, { maxRequestsPerSecond: 1, faults: { retryAfterSeconds: 3 } })
    await emulator.fetch(post())
    expect((await emulator.fetch(post())).headers.get('retry-after')).toBe('3')
    emulator.setFaults({ rateLimitStorm: true })
    time.now = 5000
    expect((await emulator.fetch(post())).headers.get('retry-after')).toBe('3')
    emulator.setFaults({ retryAfterSeconds: null })
    expect((await emulator.fetch(post())).headers.has('retry-after')).toBe(false)
  })

  it('latency waits through the injected sleep before answering, and records only once answered', async () => {
    let release = () => {}
    const sleep = vi.fn<Sleep>(() => new Promise<void>((resolve) => (release = resolve)))
    const emulator = createEmulator({ apiKey: KEY, sleep, faults: { latencyMs: 250 } })
    let settled = false
    const pending = emulator.fetch(post()).finally(() => (settled = true))
    await vi.waitFor(() => expect(sleep).toHaveBeenCalledWith(250, expect.any(AbortSignal)))
    expect(settled).toBe(false)
    expect(emulator.engagements()).toEqual([])
    release()
    expect((await pending).status).toBe(200)
    expect(emulator.engagements()).toHaveLength(1)
  })

  it('a request aborted during latency rejects, records nothing and leaves no timer behind', async () => {
    vi.useFakeTimers()
    const emulator = createEmulator({ apiKey: KEY, sleep: sleepWithTimer, faults: { latencyMs: 5000 } })
    const controller = new AbortController()
    const pending = emulator.fetch(post({ signal: controller.signal }))
    await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1))
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(vi.getTimerCount()).toBe(0)
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: null })
  })

  it('hangRate 1 never answers, without a timer, until the request aborts; nothing is recorded', async () => {
    vi.useFakeTimers()
    const emulator = createEmulator({ apiKey: KEY, faults: { hangRate: 1 } })
    const controller = new AbortController()
    let settled = false
    const pending = emulator.fetch(post({ signal: controller.signal })).finally(() => (settled = true))
    await vi.advanceTimersByTimeAsync(60_000)
    expect(settled).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: null, fault: 'hang', durationMs: expect.any(Number) })
  })

  it('rejectTypes refuses a whole batch holding a refused type with 400, naming the first, and records nothing of it', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    expect(emulator.setFaults({ rejectTypes: ['POISON'] })).toMatchObject({ rejectTypes: ['POISON'] })
    const refused = await emulator.fetch(
      post({
        body: {
          batch: [engagement(1, { id: 'a' }), engagement(2, { id: 'b', type: 'POISON' }), engagement(3, { id: 'c', type: 'POISON' })],
        },
      }),
    )
    expect(refused.status).toBe(400)
    expect(await refused.json()).toEqual({ message: 'batch[1].type "POISON" is refused (emulated fault)' })
    expect(emulator.ids()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: 400, fault: 'reject' })

    expect((await emulator.fetch(post({ body: { batch: [engagement(4, { id: 'd' })] } }))).status).toBe(200)
    expect(emulator.ids()).toEqual(['d'])
  })

  it('rejectTypes is absent from the faults of a healthy upstream, and an empty list clears it', () => {
    const emulator = createEmulator({ apiKey: KEY, faults: { rejectTypes: ['X'] } })
    expect(emulator.faults().rejectTypes).toEqual(['X'])
    expect(emulator.setFaults({ rejectTypes: [] })).not.toHaveProperty('rejectTypes')
    expect(() => emulator.setFaults({ rejectTypes: 'X' as never })).toThrow(/rejectTypes must be a list of engagement types/)
    emulator.reset()
    expect(emulator.faults().rejectTypes).toEqual(['X'])
  })

  it('refuses fault settings out of range or unknown, naming the field', () => {
    const emulator = createEmulator({ apiKey: KEY })
    expect(() => emulator.setFaults({ errorRate: 2 })).toThrow(/errorRate must be at most 1/)
    expect(() => emulator.setFaults({ latencyMs: -1 })).toThrow(/latencyMs must be at least 0/)
    expect(() => emulator.setFaults({ retryAfterSeconds: 1.5 })).toThrow(/retryAfterSeconds must be a whole number/)
    expect(() => emulator.setFaults({ errorrate: 1 } as never)).toThrow(/errorrate is not a known field/)
    expect(() => createEmulator({ apiKey: KEY, faults: { hangRate: 7 } })).toThrow(/hangRate must be at most 1/)
    expect(emulator.faults()).toEqual({ latencyMs: 0, errorRate: 0, rateLimitStorm: false, retryAfterSeconds: null, hangRate: 0 })
  })
})

describe('emulator: the key stays secret', () => {
  it('never shows the key in any answer, header or log entry', async () => {
    const emulator = createEmulator({ apiKey: KEY, maxRequestsPerSecond: 3 })
    const requests = [
      post(),
      post({ key: null }),
      post({ key: `${KEY}x` }),
      post({ body: `{"${KEY}": ` }),
      post({ body: { batch: [engagement(0, { [KEY]: 1 })] } }),
      post({ body: { ...batchOf(1), [KEY]: 1 } }),
      post({ url: `${ORIGIN}/api/${KEY}/batch?key=${KEY}` }),
      post({ url: `${BATCH_URL}?apiKey=${KEY}` }),
      post(),
      post(),
      new Request(BATCH_URL, { headers: { 'x-api-key': KEY } }),
    ]
    const seen: string[] = []
    for (const request of requests) {
      const response = await emulator.fetch(request)
      seen.push(String(response.status), await response.text(), JSON.stringify([...response.headers]))
    }
    for (const route of ['summary', 'requests', 'faults']) {
      const response = await emulator.fetch(new Request(`${ORIGIN}/__emulator/${route}`))
      seen.push(await response.text(), JSON.stringify([...response.headers]))
    }
    seen.push(JSON.stringify(emulator.requests()))
    expect(seen).toContain('429')
    expect(seen.join('\n')).not.toContain(KEY)
    expect(JSON.stringify(emulator.requests())).toContain('[redacted]')
  })

  it('refuses to start without a key, without echoing options', () => {
    expect(() => createEmulator({ apiKey: '' })).toThrow(TypeError)
    expect(() => createEmulator({ apiKey: KEY, maxBatchSize: 201 })).toThrow(
      '`maxBatchSize` must be a whole number from 1 to 200 (got 201)',
    )
  })
})

describe('emulator: memory and reset', () => {
  it('keeps the newest recordLimit records and log entries, with exact duplicates among them', async () => {
    const emulator = createEmulator({ apiKey: KEY, recordLimit: 3, maxRequestsPerSecond: 100 })
    for (const id of ['a', 'b', 'a', 'c', 'd']) {
      await emulator.fetch(post({ body: { batch: [engagement(0, { id })] } }))
    }
    expect(emulator.ids()).toEqual(['a', 'c', 'd'])
    expect(emulator.engagements().map((record) => record.position)).toEqual([3, 4, 5])
    expect(emulator.duplicates()).toEqual([])
    expect(emulator.requests().map((entry) => entry.seq)).toEqual([3, 4, 5])
    await emulator.fetch(post({ body: { batch: [engagement(0, { id: 'c' })] } }))
    expect(emulator.duplicates()).toEqual(['c'])
  })

  it('reset forgets records, the log and the window, restores initial faults, and keeps counting', async () => {
    const time = { now: 0 }
    const emulator = emulatorAt(time, { maxRequestsPerSecond: 1, faults: { retryAfterSeconds: 1 } })
    await emulator.fetch(post())
    expect((await emulator.fetch(post())).status).toBe(429)
    emulator.setFaults({ errorRate: 1 })
    emulator.reset()
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()).toEqual([])
    expect(emulator.maxStartsInAnyWindow()).toBe(0)
    expect(emulator.faults()).toMatchObject({ errorRate: 0, retryAfterSeconds: 1 })
    expect((await emulator.fetch(post())).status).toBe(200)
    expect(emulator.engagements()[0]).toMatchObject({ position: 2, requestSeq: 3 })
  })
})

describe('emulator: inspection routes', () => {
  const inspect = (emulator: Emulator, path: string, init?: RequestInit) =>
    emulator.fetch(new Request(`${ORIGIN}/__emulator/${path}`, init))

  it('pages engagements after a cursor, with CORS for any origin and no key', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    await emulator.fetch(post({ body: batchOf(3) }))
    const first = await inspect(emulator, 'engagements?limit=2')
    expect(first.headers.get('access-control-allow-origin')).toBe('*')
    const page = (await first.json()) as { items: { position: number }[]; next: number }
    expect(page.items.map((item) => item.position)).toEqual([1, 2])
    expect(page.next).toBe(2)
    const rest = (await (await inspect(emulator, `engagements?since=${page.next}`)).json()) as typeof page
    expect(rest).toMatchObject({ items: [{ position: 3, requestSeq: 1, engagement: engagement(2) }], next: 3 })
    expect(await (await inspect(emulator, 'engagements?since=3')).json()).toEqual({ items: [], next: 3 })
    expect((await inspect(emulator, 'engagements?since=-1')).status).toBe(400)
  })

  it('lists requests, summarises, and changes faults over HTTP', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    await emulator.fetch(post({ body: batchOf(2) }))
    await emulator.fetch(post({ body: batchOf(2) }))
    const requests = (await (await inspect(emulator, 'requests?since=1')).json()) as { items: unknown[]; next: number }
    expect(requests).toMatchObject({ items: [{ seq: 2, status: 200, count: 2 }], next: 2 })

    const summary = await (await inspect(emulator, 'summary')).json()
    expect(summary).toMatchObject({ engagements: 4, requests: 2, duplicates: ['e-0', 'e-1'], maxStartsInAnyWindow: 2 })

    const changed = await inspect(emulator, 'faults', { method: 'POST', body: JSON.stringify({ errorRate: 1 }) })
    expect(await changed.json()).toMatchObject({ errorRate: 1 })
    expect(emulator.faults().errorRate).toBe(1)
    expect(await (await inspect(emulator, 'faults')).json()).toMatchObject({ errorRate: 1 })
    const refused = await inspect(emulator, 'faults', { method: 'POST', body: '{"hangRate": "often"}' })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toEqual({ message: expect.stringMatching(/hangRate must be a number/) })

    expect((await inspect(emulator, 'reset', { method: 'POST' })).status).toBe(200)
    expect(emulator.engagements()).toEqual([])
    expect(emulator.faults().errorRate).toBe(0)
  })

  it('answers preflights, and 404/405 in the inspection namespace', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    const preflight = await inspect(emulator, 'faults', { method: 'OPTIONS' })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type')
    expect((await inspect(emulator, 'nothing')).status).toBe(404)
    expect((await inspect(emulator, 'constructor')).status).toBe(404)
    expect((await inspect(emulator, 'reset')).status).toBe(405)
    expect(emulator.requests()).toEqual([])
  })
})
