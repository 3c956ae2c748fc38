import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkEngagement, isSettlement } from '../src/contract.js'
import { signIdentity, verifyIdentity } from '../src/proxy/identity.js'
import { createProxy } from '../src/proxy/proxy.js'
import { firstViolation, upstreamRequestSchema } from '../src/schemas.js'
import { recordingLogger } from './helpers/proxy.js'

const KEY = 'sk_test_fake_fuzz_0123456789abcdefghijklmnop'
const SECRET = 'fuzz-identity-secret'
const APP = 'https://app.example.com'
/** Statuses the proxy may answer a client; a 5xx other than a deliberate 503 is a bug. */
const CLIENT_ERRORS = [400, 403, 404, 405, 413, 415]

const validEngagement = fc.record({
  id: fc.stringMatching(/^[\w.:-]{1,40}$/),
  contactEmail: fc.constantFrom('john@example.com', 'jane@example.org', 'JOHN@example.com'),
  type: fc.constantFrom('PRODUCT_ACTIVITY', 'SIGNED_UP', 'POISON'),
  createdAt: fc.constantFrom('2025-08-12T09:21:45Z', '2025-08-12T09:21:45.123Z'),
})

/** Engagements, most of them nearly right, some broken in one field, some hostile. */
const item = fc.oneof(
  { weight: 4, arbitrary: validEngagement },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        validEngagement,
        fc.constantFrom('id', 'contactEmail', 'type', 'createdAt', 'data', 'name', 'constructor', '__proto__', 'extra'),
        fc.anything({ maxDepth: 2 }),
      )
      // A computed key is an own property even for `__proto__`, as JSON.parse would make it.
      .map(([engagement, key, value]) => JSON.parse(JSON.stringify({ ...engagement, [key]: value })) as unknown),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
)

/** A body as text: valid requests, near misses, JSON of any shape, and text that is not JSON at all. */
const bodyText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ batch: fc.array(item, { minLength: 0, maxLength: 12 }) }, { requiredKeys: ['batch'] })
      .map((value) => JSON.stringify(value)),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ batch: fc.array(item, { maxLength: 4 }), identity: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())) })
      .map((value) => JSON.stringify(value)),
  },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '{"batch":',
      'null',
      '[]',
      '{"batch":null}',
      '{"batch":[]}',
      `{"batch":[${'{},'.repeat(200)}{}]}`,
      '\uFEFF{"batch":[{}]}',
    ),
  },
)

const headerToken = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/)
const headerValue = fc.string({ maxLength: 40 }).map((text) => text.replace(/[^\x20-\x7e]/g, ''))

const body = fc.oneof({ weight: 5, arbitrary: bodyText }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) })

const request: fc.Arbitrary<RequestInput> = fc.oneof(
  // Anything in every part of the request.
  fc.record({
    method: fc.constantFrom('POST', 'POST', 'GET', 'PUT', 'OPTIONS', 'DELETE', 'PATCH'),
    path: fc.constantFrom('/api/relay', '/api/relay', '/api/relay/', '/API/relay', '/', '/api/relay/../relay'),
    origin: fc.option(fc.constantFrom(APP, APP, 'https://evil.example', 'null', `${APP}.evil.example`, 'HTTPS://APP.EXAMPLE.COM'), {
      nil: undefined,
    }),
    contentType: fc.option(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain;charset=UTF-8',
        'text/html',
        'application/jsonp',
        'multipart/form-data',
      ),
      { nil: undefined },
    ),
    extraHeaders: fc.array(fc.tuple(headerToken, headerValue), { maxLength: 4 }),
    body,
  }),
  // A request as a browser sends it, so that the body is what varies and reaches the Coalescer.
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/api/relay'),
    origin: fc.constant(APP),
    contentType: fc.constantFrom('application/json', 'text/plain;charset=UTF-8'),
    extraHeaders: fc.array(fc.tuple(headerToken, headerValue), { maxLength: 4 }),
    body,
  }),
)

interface Forwarded {
  batch: unknown[]
}

/** One proxy per run, with a Conversion stand-in that takes everything and keeps what it got. */
function harness(options: { identitySecret?: string } = {}) {
  const forwarded: Forwarded[] = []
  const { logs, logger } = recordingLogger()
  const proxy = createProxy({
    apiKey: KEY,
    allowedOrigins: [APP],
    upstreamUrl: 'https://conversion.test/api',
    clientRateLimit: false,
    logger,
    ...options,
    fetch: async (input, init) => {
      const body = JSON.parse(String((init as RequestInit).body ?? (await (input as Request).text()))) as Forwarded
      forwarded.push(body)
      return new Response(JSON.stringify({ accepted: body.batch.length }), { status: 200, headers: { 'content-type': 'application/json' } })
    },
  })
  return { proxy, forwarded, logs }
}

async function send(proxy: ReturnType<typeof createProxy>, input: RequestInput) {
  const headers = new Headers()
  for (const [name, value] of input.extraHeaders) headers.set(`x-${name}`, value)
  if (input.origin !== undefined) headers.set('origin', input.origin)
  if (input.contentType !== undefined) headers.set('content-type', input.contentType)
  const hasBody = !['GET', 'HEAD'].includes(input.method)
  const init: RequestInit = { method: input.method, headers }
  if (hasBody) init.body = input.body as BodyInit
  return proxy.fetch(new Request(`https://proxy.example${input.path}`, init))
}

type RequestInput = {
  method: string
  path: string
  origin: string | undefined
  contentType: string | undefined
  extraHeaders: [string, string][]
  body: string | Uint8Array
}

/** The items of a body that the proxy may forward: those that keep every rule. */
/** An engagement's JSON with its top-level fields sorted: the proxy forwards them in the contract's order. */
function canonical(engagement: unknown): string {
  return JSON.stringify(Object.fromEntries(Object.entries(engagement as object).sort(([a], [b]) => (a < b ? -1 : 1))))
}

function forwardable(body: string | Uint8Array): Set<string> {
  try {
    const value = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)) as { batch?: unknown }
    if (!Array.isArray(value?.batch)) return new Set()
    return new Set(value.batch.filter((entry) => !checkEngagement(entry)).map(canonical))
  } catch {
    return new Set()
  }
}

describe('proxy fuzzing: whatever arrives, no crash, no 5xx, nothing invalid forwarded, no key', () => {
  it('answers random requests with a specific 2xx/4xx and forwards only valid engagements (property)', async () => {
    let forwardedRuns = 0
    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const { proxy, forwarded, logs } = harness()
        try {
          const response = await send(proxy, input)
          const text = await response.text()
          expect(
            response.status === 200 || response.status === 204 || CLIENT_ERRORS.includes(response.status),
            `status ${response.status}: ${text}`,
          ).toBe(true)
          if (response.status !== 204) {
            const json = JSON.parse(text) as unknown
            if (response.status === 200) expect(isSettlement(json)).toBe(true)
            else expect(typeof (json as { message?: unknown }).message).toBe('string')
          }
          expect(text).not.toContain(KEY)
          expect([...response.headers.values()].join('\n')).not.toContain(KEY)
          const allowed = forwardable(input.body)
          for (const body of forwarded) {
            expect(firstViolation(upstreamRequestSchema, body)).toBeUndefined()
            for (const engagement of body.batch) expect(allowed.has(canonical(engagement))).toBe(true)
          }
          expect(logs.join('\n')).not.toContain(KEY)
          if (forwarded.length > 0) forwardedRuns++
        } finally {
          proxy.close()
        }
      }),
      { numRuns: 600 },
    )
    // The generator reaches the forwarding path often, not only the refusals.
    expect(forwardedRuns).toBeGreaterThan(60)
  })

  it('with identity checks on, forwards only engagements whose contact is vouched for (property)', async () => {
    const now = Date.now()
    const signatures = {
      good: await signIdentity('john@example.com', SECRET, { now }),
      otherEmail: await signIdentity('jane@example.org', SECRET, { now }),
      expired: await signIdentity('john@example.com', SECRET, { now: now - 40 * 86_400_000 }),
      wrongSecret: await signIdentity('john@example.com', 'not-the-secret', { now }),
    }
    const forged = fc.oneof(
      fc.constantFrom(...Object.values(signatures)),
      fc.constantFrom(
        signatures.good.toUpperCase(),
        signatures.good.replace(/^\d+/, (expiry) => String(Number(expiry) + 86_400)),
        `${signatures.good}0`,
      ),
      fc.string({ maxLength: 80 }),
    )
    let vouchedRuns = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(validEngagement, { minLength: 1, maxLength: 8 }),
        fc.dictionary(fc.constantFrom('john@example.com', 'jane@example.org', 'JOHN@example.com'), forged),
        async (batch, identity) => {
          const { proxy, forwarded } = harness({ identitySecret: SECRET })
          try {
            const response = await send(proxy, {
              method: 'POST',
              path: '/api/relay',
              origin: APP,
              contentType: 'application/json',
              extraHeaders: [],
              body: JSON.stringify({ batch, identity }),
            })
            expect([200, 400]).toContain(response.status)
            const vouched = new Set<string>()
            for (const [email, signature] of Object.entries(identity)) {
              if (await verifyIdentity(email, signature, SECRET, Date.now())) vouched.add(email)
            }
            for (const body of forwarded) {
              for (const engagement of body.batch as { contactEmail: string }[]) expect(vouched.has(engagement.contactEmail)).toBe(true)
            }
            if (forwarded.length > 0) vouchedRuns++
            if (response.status === 200) {
              const settlement = (await response.json()) as { accepted: number; duplicates: number; rejected: { reason: string }[] }
              expect(settlement.accepted + settlement.duplicates + settlement.rejected.length).toBe(batch.length)
            }
          } finally {
            proxy.close()
          }
        },
      ),
      { numRuns: 300 },
    )
    expect(vouchedRuns).toBeGreaterThan(20)
  })
})
