import { describe, expect, it } from 'vitest'
import { createEmulator, type EmulatorOptions } from '../src/emulator/index.js'
import { createProxy, signIdentity, type ProxyOptions } from '../src/proxy/index.js'
import { recordingLogger } from './helpers/proxy.js'

const KEY = 'sk_test_fake_handler_test_0123456789abcdefghij'
const APP = 'https://app.example.com'
const URL_ = 'https://proxy.example.com/api/relay'
const SECRET = 'identity-secret-for-tests'

function engagement(n: number, overrides: Record<string, unknown> = {}) {
  return { id: `e-${n}`, contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z', ...overrides }
}

/** A proxy whose upstream is the strict emulator, in process; the emulator knows the proxy's key unless told otherwise. */
function setup(options: Partial<ProxyOptions> = {}, emulatorOptions: Partial<EmulatorOptions> = {}) {
  const emulator = createEmulator({ apiKey: KEY, ...emulatorOptions })
  const { logs, logger } = recordingLogger()
  const proxy = createProxy({
    apiKey: KEY,
    allowedOrigins: [APP, 'https://*.preview.example.com'],
    upstreamUrl: 'https://conversion.test/api',
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
    logger,
    ...options,
  })
  return { proxy, emulator, logs }
}

interface Send {
  method?: string
  origin?: string | null
  body?: unknown
  contentType?: string | null
  url?: string
  headers?: Record<string, string>
}

function request({
  method = 'POST',
  origin = APP,
  body = { batch: [engagement(1)] },
  contentType = 'application/json',
  url = URL_,
  headers = {},
}: Send = {}) {
  const all: Record<string, string> = { ...headers }
  if (origin !== null) all.origin = origin
  if (contentType !== null) all['content-type'] = contentType
  const init: RequestInit = { method, headers: all }
  if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    // A string body would get `text/plain` by default; bytes get no content type at all.
    init.body = contentType === null ? new TextEncoder().encode(text) : text
  }
  return new Request(url, init)
}

async function send(proxy: ReturnType<typeof createProxy>, init: Send = {}) {
  const response = await proxy.fetch(request(init))
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  }
}

describe('proxy: origins and CORS', () => {
  it('says Vary: Origin and nosniff on every answer, refusals and failures included', async () => {
    const { proxy } = setup()
    const broken = setup({
      clientKey: () => {
        throw new Error('a host bug')
      },
    })
    const answers = [
      await send(proxy, { url: 'https://proxy.example.com/elsewhere' }),
      await send(proxy, { origin: 'https://evil.example.net' }),
      await send(proxy, { origin: null }),
      await send(proxy, { method: 'PUT' }),
      await send(proxy, { body: 'not json' }),
      await send(proxy),
      await send(broken.proxy),
    ]
    expect(answers.map((answer) => answer.status)).toEqual([404, 403, 403, 405, 400, 200, 500])
    for (const answer of answers) {
      expect(answer.headers.get('vary')).toBe('Origin')
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff')
    }
    broken.proxy.close()
    proxy.close()
  })

  it('answers a preflight from an allowed origin with that exact origin, never *', async () => {
    const { proxy } = setup()
    const response = await proxy.fetch(request({ method: 'OPTIONS' }))
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP)
    expect(response.headers.get('vary')).toBe('Origin')
    expect(response.headers.get('access-control-allow-methods')).toBe('POST')
    expect(response.headers.get('access-control-allow-headers')).toBe('content-type')
  })

  it('allows subdomains of a wildcard entry, and only them', async () => {
    const { proxy } = setup()
    expect((await send(proxy, { origin: 'https://pr-42.preview.example.com' })).status).toBe(200)
    for (const origin of ['https://preview.example.com', 'https://evil.com/.preview.example.com', 'http://pr-1.preview.example.com']) {
      expect((await send(proxy, { origin })).status).toBe(403)
    }
  })

  it('refuses a foreign origin, or none, with 403 and forwards nothing', async () => {
    const { proxy, emulator } = setup()
    const foreign = await send(proxy, { origin: 'https://evil.example.net' })
    expect(foreign.status).toBe(403)
    expect(foreign.body).toEqual({ message: 'origin https://evil.example.net is not allowed' })
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
    expect((await proxy.fetch(request({ method: 'OPTIONS', origin: 'https://evil.example.net' }))).status).toBe(403)
    expect((await send(proxy, { origin: null })).status).toBe(403)
    expect(emulator.requests()).toHaveLength(0)
  })

  it('puts the CORS headers on errors too, so the page can read them', async () => {
    const { proxy } = setup()
    const response = await send(proxy, { body: '{nope' })
    expect(response.status).toBe(400)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP)
  })
})

describe('proxy: forwarding', () => {
  it('forwards valid engagements and answers with the settlement', async () => {
    const { proxy, emulator } = setup()
    const response = await send(proxy, { body: { batch: [engagement(1), engagement(2)] } })
    expect(response.status).toBe(200)
    expect(response.body).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    expect(emulator.ids()).toEqual(['e-1', 'e-2'])
    expect(response.headers.get('cache-control')).toBe('no-store')
  })

  it('accepts beacons sent as text/plain', async () => {
    const { proxy, emulator } = setup()
    expect((await send(proxy, { contentType: 'text/plain;charset=UTF-8' })).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    expect(emulator.ids()).toEqual(['e-1'])
  })

  it('rejects invalid engagements one by one and still forwards the valid ones', async () => {
    const { proxy, emulator } = setup()
    const response = await send(proxy, {
      body: { batch: [engagement(1), engagement(2, { contactEmail: 'nope' }), { type: 'X' }, engagement(4, { extra: 1 })] },
    })
    expect(response.body).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [
        { id: 'e-2', reason: 'contactEmail must be an email address such as john@example.com' },
        { id: 'batch[2]', reason: 'id is required' },
        { id: 'e-4', reason: 'extra is not a known field' },
      ],
    })
    expect(emulator.ids()).toEqual(['e-1'])
  })

  it('answers a re-sent request as duplicates without forwarding it again', async () => {
    const { proxy, emulator } = setup()
    await send(proxy, { body: { batch: [engagement(1), engagement(2)] } })
    const again = await send(proxy, { body: { batch: [engagement(1), engagement(2), engagement(3)] } })
    expect(again.body).toEqual({ accepted: 1, duplicates: 2, rejected: [] })
    expect(emulator.ids()).toEqual(['e-1', 'e-2', 'e-3'])
    expect(emulator.duplicates()).toEqual([])
  })

  it('rejects types outside the allowlist', async () => {
    const { proxy } = setup({ allowedTypes: ['PRODUCT_ACTIVITY'] })
    const response = await send(proxy, { body: { batch: [engagement(1), engagement(2, { type: 'PAYMENT' })] } })
    expect(response.body).toMatchObject({ accepted: 1, rejected: [{ id: 'e-2', reason: 'type "PAYMENT" is not allowed by this proxy' }] })
  })

  it('answers 503 with Retry-After when Conversion refuses the key, logs it once, and never shows the key', async () => {
    // Conversion knows another key than the proxy's.
    const { proxy, logs } = setup({}, { apiKey: 'sk_test_fake_another_key' })
    const first = await send(proxy)
    const second = await send(proxy)
    for (const response of [first, second]) {
      expect(response.status).toBe(503)
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(response.text).not.toContain(KEY)
    }
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/HTTP 401/)
    expect(logs.join()).not.toContain(KEY)
  })

  it('bisects a batch an upstream refuses for a type: the rest is delivered, each refused engagement is rejected with the reason', async () => {
    const { proxy, emulator } = setup({}, { faults: { rejectTypes: ['POISON'] } })
    const batch = Array.from({ length: 40 }, (_, i) => engagement(i, { type: i % 13 === 5 ? 'POISON' : 'PRODUCT_ACTIVITY' }))
    const settlement = (await send(proxy, { body: { batch } })).body as { accepted: number; rejected: { id: string; reason: string }[] }
    expect(settlement.accepted).toBe(37)
    expect(settlement.rejected).toEqual(
      ['e-5', 'e-18', 'e-31'].map((id) => ({ id, reason: 'HTTP 400: batch[0].type "POISON" is refused (emulated fault)' })),
    )
    expect(emulator.ids()).toHaveLength(37)
    expect(emulator.duplicates()).toEqual([])
    proxy.close()
  })

  it('limits requests per client when the host names the client', async () => {
    const { proxy } = setup({ clientRateLimit: { requests: 3, windowMs: 10_000 }, clientKey: () => '203.0.113.9' })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await send(proxy, { body: { batch: [engagement(i)] } })).status)
    expect(statuses).toEqual([200, 200, 200, 429])
    const limited = await send(proxy)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('proxy: identity signatures', () => {
  const now = Date.parse('2025-08-12T09:00:00Z')

  it('accepts a valid signature, whatever the case of the email', async () => {
    const { proxy, emulator } = setup({ identitySecret: SECRET, now: () => now })
    const signature = await signIdentity('John@Example.com', SECRET, { now })
    const response = await send(proxy, { body: { batch: [engagement(1)], identity: { 'john@example.com': signature } } })
    expect(response.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    expect(emulator.ids()).toEqual(['e-1'])
  })

  it.each([
    ['missing', async () => ({})],
    ['forged', async () => ({ 'john@example.com': `${Math.floor(now / 1000) + 3600}.${'a'.repeat(64)}` })],
    ['made for another email', async () => ({ 'john@example.com': await signIdentity('jane@example.com', SECRET, { now }) })],
    ['made with another secret', async () => ({ 'john@example.com': await signIdentity('john@example.com', 'other-secret', { now }) })],
    [
      'expired',
      async () => ({
        'john@example.com': await signIdentity('john@example.com', SECRET, { now: now - 2 * 86_400_000, expiresIn: 86_400 }),
      }),
    ],
    [
      'tampered expiry',
      async () => ({ 'john@example.com': (await signIdentity('john@example.com', SECRET, { now })).replace(/^\d+/, '9999999999') }),
    ],
    ['not a signature', async () => ({ 'john@example.com': 'hello' })],
  ])('rejects an engagement whose signature is %s, and forwards nothing for it', async (_, identity) => {
    const { proxy, emulator } = setup({ identitySecret: SECRET, now: () => now })
    const response = await send(proxy, { body: { batch: [engagement(1)], identity: await identity() } })
    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ accepted: 0, rejected: [{ id: 'e-1', reason: expect.stringMatching(/identity signature/) }] })
    expect(emulator.requests()).toHaveLength(0)
  })

  it('remembers a valid signature only until it expires, and only for its own email', async () => {
    let clock = now
    const { proxy, emulator } = setup({ identitySecret: SECRET, now: () => clock })
    const signature = await signIdentity('john@example.com', SECRET, { now, expiresIn: 60 })
    const identity = { 'john@example.com': signature, 'jane@example.com': signature }
    const first = await send(proxy, { body: { batch: [engagement(1)], identity } })
    expect(first.body).toMatchObject({ accepted: 1 })
    const misused = await send(proxy, { body: { batch: [engagement(2, { contactEmail: 'jane@example.com' })], identity } })
    expect(misused.body).toMatchObject({ accepted: 0, rejected: [{ id: 'e-2' }] })
    clock = now + 61_000
    const late = await send(proxy, { body: { batch: [engagement(3)], identity } })
    expect(late.body).toMatchObject({ accepted: 0, rejected: [{ id: 'e-3', reason: expect.stringMatching(/identity signature/) }] })
    expect(emulator.ids()).toEqual(['e-1'])
  })
})

describe('proxy: malformed and hostile requests', () => {
  const big = 'x'.repeat(1_100_000)
  const cases: [string, Send, number, string | RegExp][] = [
    ['GET', { method: 'GET' }, 405, 'only POST is allowed'],
    ['PUT', { method: 'PUT' }, 405, 'only POST is allowed'],
    ['DELETE', { method: 'DELETE' }, 405, 'only POST is allowed'],
    ['PATCH', { method: 'PATCH' }, 405, 'only POST is allowed'],
    ['another path', { url: 'https://proxy.example.com/collect' }, 404, 'not found'],
    ['the path with a suffix', { url: `${URL_}/x` }, 404, 'not found'],
    ['the path without its prefix', { url: 'https://proxy.example.com/relay' }, 404, 'not found'],
    ['no Origin', { origin: null }, 403, /no Origin header/],
    ['a foreign Origin', { origin: 'https://attacker.example' }, 403, 'origin https://attacker.example is not allowed'],
    ['Origin null', { origin: 'null' }, 403, 'origin null is not allowed'],
    ['a look-alike Origin', { origin: 'https://app.example.com.evil.net' }, 403, /not allowed/],
    ['an Origin with a port', { origin: 'https://app.example.com:8443' }, 403, /not allowed/],
    ['http instead of https', { origin: 'http://app.example.com' }, 403, /not allowed/],
    ['no content type', { contentType: null }, 415, /content-type must be/],
    ['form data', { contentType: 'application/x-www-form-urlencoded' }, 415, /content-type must be/],
    ['multipart', { contentType: 'multipart/form-data; boundary=x' }, 415, /content-type must be/],
    ['xml', { contentType: 'application/xml' }, 415, /content-type must be/],
    ['json look-alike', { contentType: 'application/jsonp' }, 415, /content-type must be/],
    ['an empty body', { body: '' }, 400, /empty|JSON/],
    ['not JSON', { body: '{"batch": [' }, 400, 'request body must be JSON: it could not be parsed'],
    ['JSON with a trailing comma', { body: '{"batch": [],}' }, 400, 'request body must be JSON: it could not be parsed'],
    ['a JSON string', { body: '"hello"' }, 400, 'body must be an object with a "batch" array'],
    ['a JSON number', { body: '42' }, 400, 'body must be an object with a "batch" array'],
    ['JSON null', { body: 'null' }, 400, 'body must be an object with a "batch" array'],
    ['a JSON array', { body: [engagement(1)] }, 400, 'body must be an object with a "batch" array'],
    ['no batch', { body: {} }, 400, 'batch is required'],
    ['batch is an object', { body: { batch: {} } }, 400, 'batch must be an array of engagements'],
    ['batch is a string', { body: { batch: 'e-1' } }, 400, 'batch must be an array of engagements'],
    ['an empty batch', { body: { batch: [] } }, 400, 'batch must hold at least one engagement'],
    [
      '201 engagements',
      { body: { batch: Array.from({ length: 201 }, (_, i) => engagement(i)) } },
      400,
      'batch must be at most 200 engagements',
    ],
    ['identity is an array', { body: { batch: [engagement(1)], identity: ['sig'] } }, 400, /identity/],
    [
      'identity holds a number',
      { body: { batch: [engagement(1)], identity: { 'john@example.com': 5 } } },
      400,
      /identity\.john@example\.com must be a string/,
    ],
    ['a body over 1 MiB', { body: { batch: [engagement(1, { description: big })] } }, 413, 'request body must be at most 1048576 bytes'],
    ['a lying Content-Length', { headers: { 'content-length': '99999999' } }, 413, 'request body must be at most 1048576 bytes'],
  ]

  it.each(cases)('%s -> %i', async (_, init, status, message) => {
    const { proxy, emulator } = setup()
    const response = await send(proxy, init)
    expect(response.status).toBe(status)
    expect(response.body?.message).toMatch(message)
    expect(emulator.requests()).toHaveLength(0)
    expect(response.text).not.toContain(KEY)
  })

  const items: [string, unknown, string | RegExp][] = [
    ['a number', 42, 'engagement must be an object'],
    ['null', null, 'engagement must be an object'],
    ['an array', [engagement(1)], 'engagement must be an object'],
    ['no type', engagement(1, { type: undefined }), 'type is required'],
    ['an empty type', engagement(1, { type: '' }), 'type must not be empty'],
    ['a bad createdAt', engagement(1, { createdAt: 'yesterday' }), /createdAt must be an ISO 8601/],
    ['createdAt with an offset', engagement(1, { createdAt: '2025-08-12T09:21:45+02:00' }), /createdAt must be an ISO 8601/],
    ['an impossible date', engagement(1, { createdAt: '2025-02-30T00:00:00Z' }), 'createdAt must be a real calendar date and time'],
    ['data as a string', engagement(1, { data: 'x' }), 'data must be a plain object of JSON values'],
    [
      '__proto__ in data',
      JSON.parse(
        `{"id":"e-1","contactEmail":"john@example.com","type":"A","createdAt":"2025-08-12T09:21:45Z","data":{"__proto__":{"admin":true}}}`,
      ),
      'data must not use the key "__proto__"',
    ],
    ['constructor in data', engagement(1, { data: { constructor: { prototype: 1 } } }), 'data must not use the key "constructor"'],
    ['data too deep', engagement(1, { data: JSON.parse(`${'{"a":'.repeat(12)}1${'}'.repeat(12)}`) }), /deeper than 10 levels/],
    ['data too large', engagement(1, { data: { blob: 'x'.repeat(17_000) } }), /data must be at most 16384 bytes/],
    ['an unknown field', engagement(1, { createAt: 'x' }), 'createAt is not a known field'],
    // Refused rather than forwarded: no one means a line break in a type, and a receiver that logs it could be fooled.
    ['header injection in type', engagement(1, { type: 'A\r\nX-Api-Key: stolen' }), /type must not contain U\+000D/],
  ]

  it.each(items)('an engagement that is %s is rejected alone, with its reason', async (_, item, reason) => {
    const { proxy, emulator } = setup()
    const response = await send(proxy, { body: { batch: [engagement(100), item] } })
    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ accepted: 1, rejected: [{ reason: expect.stringMatching(reason) }] })
    expect(emulator.ids()).toEqual(['e-100'])
  })

  it('counts at least 40 malformed requests in this table', () => {
    expect(cases.length + items.length).toBeGreaterThanOrEqual(40)
  })

  it('refuses to start without a key or origins, without printing the key', () => {
    expect(() => createProxy({ apiKey: '', allowedOrigins: [APP] })).toThrow(/apiKey/)
    expect(() => createProxy({ apiKey: KEY, allowedOrigins: [] })).toThrow(/allowedOrigins/)
    expect(() => createProxy({ apiKey: KEY, allowedOrigins: ['*'] })).toThrow(/allowedOrigins/)
    expect(() => createProxy({ apiKey: KEY, allowedOrigins: [APP], path: 'relay' })).toThrow(/path/)
    try {
      createProxy({ apiKey: KEY, allowedOrigins: [] })
    } catch (error) {
      expect(String(error)).not.toContain(KEY)
    }
  })
})
