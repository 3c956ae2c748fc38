/**
 * Hostile requests to the proxy process over real sockets: malformed HTTP and JSON, wrong
 * methods, paths, origins and content types, oversized and trickled bodies, forged and replayed
 * identity signatures, injected and huge headers. Each gets a specific error; the good
 * engagements sent between them (and a real page's) all arrive once; nothing invalid reaches
 * Conversion; the process keeps its memory and answers normally afterwards.
 */
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { signIdentity } from '../../src/proxy/identity.js'
import { eventually, expect, test } from './support/fixtures.js'
import { ProxyProcess } from './support/proxy.js'
import type { Stack } from './support/stack.js'
import { exchange, request, type RawAnswer, type RawOptions } from './support/raw-http.js'

const SECRET = 'reliability-identity-secret'
const EMAIL = 'john@example.com'
const BODY_TIMEOUT_MS = 2_000
const SIGNATURE = await signIdentity(EMAIL, SECRET)

interface Case {
  label: string
  bytes: Buffer | string
  options?: RawOptions
  /** The status it must get. */
  status: number
  /** What the JSON `message` (or a rejection's reason) must say. */
  says?: RegExp
  /** A body too slow to finish: the connection must close soon after the body timeout. */
  slowBody?: true
}

/** The `message` of a JSON error, or the reasons of a settlement's rejections. */
function said(answer: RawAnswer): string {
  try {
    const json = JSON.parse(answer.body) as { message?: string; rejected?: { reason: string }[] }
    return json.message ?? (json.rejected ?? []).map((item) => item.reason).join(' | ')
  } catch {
    return answer.body
  }
}

function engagement(id: string, extra: Record<string, unknown> = {}) {
  return { id, contactEmail: EMAIL, type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z', ...extra }
}

function body(batch: unknown[], identity: unknown = { [EMAIL]: SIGNATURE }): string {
  return JSON.stringify({ batch, identity })
}

/**
 * Sends one valid engagement through the proxy as a page would, books its id, and keeps the
 * answer for the key check. Returns the status; an answer other than "accepted: 1" goes to `problems`.
 */
async function sendGood(stack: Stack, id: string, problems: string[]): Promise<number> {
  stack.book([id], 'Good request')
  const response = await fetch(stack.proxy.url, {
    method: 'POST',
    headers: { origin: stack.site.origin, 'content-type': 'application/json' },
    body: body([engagement(id)]),
  })
  const text = await response.text()
  stack.capture.add('answers to good requests', `${response.status} ${[...response.headers].join(' ')} ${text}`)
  if (response.status !== 200 || JSON.parse(text).accepted !== 1) problems.push(`good request ${id}: ${response.status} ${text}`)
  return response.status
}

test.use({ proxyOptions: { identitySecret: SECRET, bodyTimeout: BODY_TIMEOUT_MS, clientRateLimit: false } })

test('hostile requests over real sockets get specific errors; nothing else is lost; the proxy stays healthy', async ({ stack, page }) => {
  test.setTimeout(240_000)
  const { capture, key } = stack
  const port = stack.proxy.port
  const origin = stack.site.origin
  const now = Date.now()
  const post = (payload: string | Buffer, headers: Record<string, string> = {}, path = '/api/relay') =>
    request('POST', path, { Origin: origin, 'Content-Type': 'application/json', ...headers }, payload)
  const hostile = (label: string) => [engagement(`hostile-${label.replace(/\W+/g, '-').slice(0, 60)}`)]

  // A real page tracks through the same proxy throughout.
  await stack.open(page, {}, '')
  expect(
    await page.evaluate(({ email, signature }) => window.conversion!('identify', email, { signature }), {
      email: EMAIL,
      signature: SIGNATURE,
    }),
  ).toEqual({ ok: true })
  await stack.track(page, 40, { name: 'Page, before' })

  const expired = await signIdentity(EMAIL, SECRET, { now: now - 31 * 86_400_000 })
  const otherEmail = await signIdentity('jane@example.com', SECRET)
  const otherSecret = await signIdentity(EMAIL, 'not-the-secret')
  const [expiry, mac] = SIGNATURE.split('.') as [string, string]
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`

  const cases: Case[] = [
    // Methods and paths.
    ...['GET', 'PUT', 'DELETE', 'PATCH', 'TRACE'].map((method) => ({
      label: `${method} on the endpoint`,
      bytes: request(method, '/api/relay', { Origin: origin }),
      status: 405,
      says: /only POST is allowed/,
    })),
    { label: 'HEAD on the endpoint', bytes: request('HEAD', '/api/relay', { Origin: origin }), status: 405 },
    { label: 'POST with a trailing slash', bytes: post(body(hostile('slash')), {}, '/api/relay/'), status: 404, says: /not found/ },
    { label: 'POST in capitals', bytes: post(body(hostile('caps')), {}, '/API/RELAY'), status: 404, says: /not found/ },
    { label: 'POST to the root', bytes: post(body(hostile('root')), {}, '/'), status: 404 },
    { label: 'POST climbing out of the path', bytes: post(body(hostile('dots')), {}, '/api/relay/../../admin'), status: 404 },
    { label: 'POST to an encoded path', bytes: post(body(hostile('encoded')), {}, '/api/%72elay%2F'), status: 404 },
    // Origins.
    {
      label: 'no Origin',
      bytes: request('POST', '/api/relay', { 'Content-Type': 'application/json' }, body(hostile('no-origin'))),
      status: 403,
      says: /no Origin header/,
    },
    {
      label: 'a foreign Origin',
      bytes: post(body(hostile('foreign')), { Origin: 'https://evil.example' }),
      status: 403,
      says: /origin https:\/\/evil\.example is not allowed/,
    },
    {
      label: 'Origin null',
      bytes: post(body(hostile('null-origin')), { Origin: 'null' }),
      status: 403,
      says: /origin null is not allowed/,
    },
    {
      label: 'the allowed Origin as a prefix',
      bytes: post(body(hostile('prefix')), { Origin: `${origin}.evil.example` }),
      status: 403,
      says: /is not allowed/,
    },
    {
      label: 'the allowed Origin in capitals',
      bytes: post(body(hostile('upper')), { Origin: origin.toUpperCase() }),
      status: 403,
      says: /is not allowed/,
    },
    {
      label: 'the allowed Origin with a path',
      bytes: post(body(hostile('path')), { Origin: `${origin}/app` }),
      status: 403,
      says: /is not allowed/,
    },
    {
      label: 'only a Referer',
      bytes: request('POST', '/api/relay', { Referer: `${origin}/`, 'Content-Type': 'application/json' }, body(hostile('referer'))),
      status: 403,
      says: /no Origin header/,
    },
    {
      label: 'a foreign preflight',
      bytes: request('OPTIONS', '/api/relay', { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' }),
      status: 403,
    },
    {
      label: 'forwarding headers claiming another client',
      bytes: post(body(hostile('xff')), { Origin: 'https://evil.example', 'X-Forwarded-For': '10.0.0.1', Forwarded: 'for=10.0.0.1' }),
      status: 403,
    },
    // Content types.
    {
      label: 'no Content-Type',
      bytes: request('POST', '/api/relay', { Origin: origin }, body(hostile('no-type'))),
      status: 415,
      says: /content-type must be application\/json/,
    },
    ...[
      'text/html',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/jsonp',
      'application/json-seq',
    ].map((type) => ({
      label: `Content-Type ${type}`,
      bytes: post(body(hostile(type)), { 'Content-Type': type }),
      status: 415,
      says: /content-type must be application\/json/,
    })),
    // Bodies that are not a request.
    ...['', 'not json', '{', '{"batch":', "{'batch':[]}"].map((text) => ({
      label: `body ${JSON.stringify(text)}`,
      bytes: post(text),
      status: 400,
      says: /request body must be JSON: it could not be parsed/,
    })),
    ...['null', '[]', '42', '"text"', 'true'].map((text) => ({
      label: `body ${text}`,
      bytes: post(text),
      status: 400,
      says: /body must be an object with a "batch" array/,
    })),
    { label: 'body {}', bytes: post('{}'), status: 400, says: /batch is required/ },
    { label: 'batch an object', bytes: post('{"batch":{}}'), status: 400, says: /batch must be an array of engagements/ },
    { label: 'batch empty', bytes: post('{"batch":[]}'), status: 400, says: /batch must hold at least one engagement/ },
    {
      label: '201 engagements',
      bytes: post(body(Array.from({ length: 201 }, (_, i) => engagement(`too-many-${i}`)))),
      status: 400,
      says: /batch must be at most 200 engagements/,
    },
    {
      label: '__proto__ instead of batch',
      bytes: post(`{"__proto__":{"batch":[${JSON.stringify(engagement('proto'))}]}}`),
      status: 400,
      says: /batch is required/,
    },
    { label: 'a 100,000-deep array', bytes: post(deep), status: 400, says: /body must be an object|could not be parsed/ },
    {
      label: 'bytes that are not UTF-8',
      bytes: post(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
      status: 400,
      says: /request body must be UTF-8 text/,
    },
    { label: 'a gzip body', bytes: post(gzipSync(body(hostile('gzip'))), { 'Content-Encoding': 'gzip' }), status: 400 },
    {
      label: 'identity not an object',
      bytes: post(body(hostile('identity-type'), 'signature')),
      status: 400,
      says: /identity must be an object of email: signature/,
    },
    {
      label: 'identity signature of 129 characters',
      bytes: post(body(hostile('identity-long'), { [EMAIL]: 's'.repeat(129) })),
      status: 400,
      says: /identity\.john@example\.com must be at most 128 characters/,
    },
    // Engagements refused one by one (the request is settled, with reasons).
    {
      label: 'an engagement with a bad email',
      bytes: post(body([engagement('bad-email', { contactEmail: 'not-an-email' })])),
      status: 200,
      says: /contactEmail must be an email address/,
    },
    {
      label: 'an engagement with a constructor field',
      bytes: post(body([engagement('ctor', { constructor: 'x' })])),
      status: 200,
      says: /constructor is not a known field/,
    },
    {
      label: 'an engagement with an own __proto__ field',
      bytes: post(
        `{"batch":[{"id":"own-proto","contactEmail":"${EMAIL}","type":"T","createdAt":"2025-08-12T09:21:45Z","__proto__":{"admin":true}}],"identity":{"${EMAIL}":"${SIGNATURE}"}}`,
      ),
      status: 200,
      says: /__proto__ is not a known field/,
    },
    { label: 'an engagement that is a string', bytes: post(body(['engagement'])), status: 200, says: /engagement must be an object/ },
    {
      label: 'data with a prototype key',
      bytes: post(
        `{"batch":[{"id":"data-proto","contactEmail":"${EMAIL}","type":"T","createdAt":"2025-08-12T09:21:45Z","data":{"__proto__":{"admin":true}}}],"identity":{"${EMAIL}":"${SIGNATURE}"}}`,
      ),
      status: 200,
      says: /must not use the key "__proto__"/,
    },
    // Identity signatures: forged, misused, replayed.
    {
      label: 'no identity at all',
      bytes: post(JSON.stringify({ batch: [engagement('no-identity')] })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'a forged signature',
      bytes: post(body([engagement('forged')], { [EMAIL]: `${expiry}.${'0'.repeat(64)}` })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: "another contact's signature",
      bytes: post(body([engagement('other-email')], { [EMAIL]: otherEmail })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'an expired signature',
      bytes: post(body([engagement('expired')], { [EMAIL]: expired })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'a signature with its expiry moved',
      bytes: post(body([engagement('moved-expiry')], { [EMAIL]: `${Number(expiry) + 86_400}.${mac}` })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'a signature in capitals',
      bytes: post(body([engagement('upper-signature')], { [EMAIL]: SIGNATURE.toUpperCase() })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'a signature made with another secret',
      bytes: post(body([engagement('other-secret')], { [EMAIL]: otherSecret })),
      status: 200,
      says: /needs a valid identity signature/,
    },
    {
      label: 'a signature for a look-alike email',
      bytes: post(
        body([engagement('lookalike', { contactEmail: 'john@example.com.evil.example' })], { 'john@example.com.evil.example': SIGNATURE }),
      ),
      status: 200,
      says: /needs a valid identity signature/,
    },
    // Sizes and slowness.
    {
      label: 'a declared body over 1 MiB',
      bytes: post('x', { 'Content-Length': String(2 * 1_048_576) }),
      status: 413,
      says: /request body must be at most 1048576 bytes/,
    },
    {
      label: 'a chunked body over 1 MiB',
      bytes: post(chunked(Buffer.alloc(1_100_000, 0x20)), { 'Transfer-Encoding': 'chunked' }),
      status: 413,
      says: /request body must be at most 1048576 bytes/,
    },
    {
      label: '50 MB announced with Expect: 100-continue',
      bytes: request('POST', '/api/relay', {
        Origin: origin,
        'Content-Type': 'application/json',
        'Content-Length': '50000000',
        Expect: '100-continue',
      }),
      status: 413,
    },
    {
      label: 'a body shorter than announced, then silence',
      bytes: post(body(hostile('short')), { 'Content-Length': '100000' }),
      status: 408,
      says: /must arrive within 2000 ms/,
      slowBody: true,
    },
    {
      label: 'a body trickled a few bytes a second',
      bytes: post(body(hostile('trickle'))),
      options: { trickle: { bytes: 3, everyMs: 300, from: headLength(post(body(hostile('trickle')))) } },
      status: 408,
      says: /must arrive within 2000 ms/,
      slowBody: true,
    },
    // Broken HTTP: answered by Node's parser before the proxy sees anything.
    {
      label: 'an injected header line in Origin',
      bytes: `POST /api/relay HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nX-Injected: yes\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      status: 403,
      says: /origin https:\/\/evil\.example is not allowed/,
    },
    {
      label: 'a folded header line',
      bytes: `POST /api/relay HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\n X-Folded: yes\r\nConnection: close\r\n\r\n`,
      status: 400,
    },
    {
      label: 'a NUL byte in a header',
      bytes: `POST /api/relay HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\u0000evil\r\nConnection: close\r\n\r\n`,
      status: 400,
    },
    {
      label: 'a bare LF in a header',
      bytes: `POST /api/relay HTTP/1.1\r\nHost: x\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`,
      status: 400,
    },
    { label: 'a 32 KB header', bytes: post(body(hostile('huge-header')), { 'X-Huge': 'h'.repeat(32_768) }), status: 431 },
    {
      label: '3,000 headers',
      bytes: request(
        'POST',
        '/api/relay',
        Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`X-Header-${i}`, 'v'])),
        body(hostile('many-headers')),
      ),
      status: 431,
    },
    { label: 'a 20 KB URL', bytes: post(body(hostile('long-url')), {}, `/api/relay?${'q'.repeat(20_000)}`), status: 431 },
    {
      label: 'Content-Length and Transfer-Encoding together',
      bytes: post(chunked(Buffer.from(body(hostile('smuggle')))), { 'Content-Length': '4', 'Transfer-Encoding': 'chunked' }),
      status: 400,
    },
    {
      label: 'two different Content-Lengths',
      bytes: `POST /api/relay HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 4\r\nConnection: close\r\n\r\n{}{}`,
      status: 400,
    },
    { label: 'a broken chunk size', bytes: post('zz\r\n{}\r\n0\r\n\r\n', { 'Transfer-Encoding': 'chunked' }), status: 400 },
    { label: 'not HTTP at all', bytes: '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 hello\r\n\r\n', status: 400 },
    { label: 'an HTTP/0.9 request line', bytes: 'GET /api/relay\r\n\r\n', status: 400 },
    // The key, fished for.
    {
      label: 'the API key as Origin',
      bytes: post(body(hostile('key-origin')), { Origin: key }),
      status: 403,
      says: /origin \[redacted\] is not allowed/,
    },
    {
      label: 'the API key as an engagement id, refused',
      bytes: post(body([engagement(key, { type: '' })])),
      status: 200,
      says: /type must not be empty/,
    },
    { label: 'the API key in the path', bytes: post(body(hostile('key-path')), {}, `/api/${key}`), status: 404 },
  ]

  const problems: string[] = []
  let good = 0

  for (const { label, bytes, options, status, says, slowBody } of cases) {
    const answer = await exchange(port, bytes, capture, options)
    if (answer.status !== status)
      problems.push(`${label}: got ${answer.status ?? 'no answer'}, expected ${status} (${said(answer).slice(0, 200)})`)
    else if (says && !says.test(said(answer)))
      problems.push(`${label}: said ${JSON.stringify(said(answer).slice(0, 200))}, expected ${says}`)
    if (/x-injected/i.test(answer.head)) problems.push(`${label}: an injected header came back`)
    if (slowBody && answer.closedAfterMs > BODY_TIMEOUT_MS + 1_500)
      problems.push(`${label}: held the connection ${answer.closedAfterMs} ms`)
    await sendGood(stack, `good-${good++}`, problems)
  }
  expect(problems).toEqual([])
  expect(cases.length).toBeGreaterThanOrEqual(60)

  // A replayed request: the same valid engagements again are answered as duplicates, not forwarded.
  const replay = post(body([engagement('replay-1'), engagement('replay-2')]))
  stack.book(['replay-1', 'replay-2'], 'Replayed')
  expect(JSON.parse((await exchange(port, replay, capture)).body)).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
  expect(JSON.parse((await exchange(port, replay, capture)).body)).toEqual({ accepted: 0, duplicates: 2, rejected: [] })

  // Forty clients trickling at once do not hold up a normal request, and are all cut at the deadline.
  const tricklers = Array.from({ length: 40 }, (_, i) => {
    const bytes = post(body(hostile(`crowd-${i}`)))
    return exchange(port, bytes, capture, { trickle: { bytes: 2, everyMs: 200, from: headLength(bytes) } })
  })
  const started = Date.now()
  await sendGood(stack, `good-${good++}`, problems)
  expect(Date.now() - started).toBeLessThan(1_500)
  for (const answer of await Promise.all(tricklers)) {
    expect(answer.status).toBe(408)
    expect(answer.closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 1_500)
  }

  // Random bytes after a valid request line: never a 5xx, never a crash (property, over sockets).
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('application/json', 'text/plain', 'x/y'), async (noise, type) => {
      const answer = await exchange(port, post(Buffer.from(noise), { 'Content-Type': type }), capture, {
        timeoutMs: BODY_TIMEOUT_MS + 3_000,
      })
      expect(answer.status, said(answer)).toBeDefined()
      expect(answer.status!).toBeLessThan(500)
    }),
    // A fixed seed: the same noise on every run, so a failure is reproducible.
    { numRuns: 150, seed: 20_261_203 },
  )

  // Memory: a thousand oversized and broken requests, and 200 clients that leave mid-body, leave
  // nothing behind. The leavers come at once from one address: the connection cap closes those
  // beyond its limit before a byte is read, the others leave mid-body.
  const before = await stack.proxy.memory()
  const junk = Buffer.alloc(64 * 1024, 0x7b)
  for (let round = 0; round < 50; round++) {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(stack.proxy.url, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: junk }).then(
          async (response) => {
            capture.add('answers to hostile requests', await response.text())
            if (response.status !== 400) problems.push(`junk: ${response.status}`)
          },
        ),
      ),
    )
  }
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      exchange(port, post(body(hostile(`leaver-${i}`)), { 'Content-Length': '5000' }), capture, { timeoutMs: 200 }),
    ),
  )
  await new Promise((resolve) => setTimeout(resolve, BODY_TIMEOUT_MS + 500))
  const after = await stack.proxy.memory()
  const grownMb = (after.heapUsed - before.heapUsed) / 1_048_576
  expect(problems).toEqual([])
  expect(grownMb, `heap grew ${grownMb.toFixed(1)} MB`).toBeLessThan(8)
  expect(stack.proxy.running).toBe(true)
  await sendGood(stack, `good-${good++}`, problems)

  // The per-client limit, on a proxy process of its own: the sixth request in the window is refused.
  const limited = await ProxyProcess.start(
    key,
    { allowedOrigins: [origin], upstreamUrl: stack.emulator.url, clientRateLimit: { requests: 5, windowMs: 60_000 } },
    capture,
  )
  try {
    const statuses: (number | undefined)[] = []
    let refusal: RawAnswer | undefined
    for (let i = 0; i < 7; i++) {
      const answer = await exchange(limited.port, post('{"batch":[]}', { 'X-Forwarded-For': `10.0.0.${i}` }), capture)
      statuses.push(answer.status)
      if (answer.status === 429) refusal = answer
    }
    expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429])
    expect(said(refusal!)).toMatch(/too many requests from this client/)
    expect(refusal!.head.toLowerCase()).toMatch(/retry-after: \d+/)
  } finally {
    await limited.stop()
  }

  await stack.track(page, 40, { name: 'Page, after' })
  await eventually(() => stack.counts().delivered === stack.ledger.tracked.size, 'every good engagement', 30_000)
  await stack.settle([page])
  stack.conclude({
    note: `${cases.length} hostile requests (+ 40 tricklers, 150 random bodies, 1,000 junk bodies, 200 leavers, most closed by the connection cap), each a specific 4xx; heap ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB after all of it`,
  })
  // Nothing but the good engagements reached Conversion.
  expect(stack.emulator.ids().filter((id) => !stack.ledger.tracked.has(id))).toEqual([])
})

/** Where the body of a raw request starts. */
function headLength(bytes: Buffer): number {
  return bytes.indexOf('\r\n\r\n') + 4
}

/** A body in HTTP chunked encoding. */
function chunked(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')])
}

test('headers trickled a byte a second: the proxy cuts the connection (headersTimeout), others are served meanwhile', async ({ stack }) => {
  test.setTimeout(60_000)
  const head = Buffer.from(`POST /api/relay HTTP/1.1\r\nHost: proxy.example\r\nOrigin: ${stack.site.origin}\r\nX-Slow: ${'s'.repeat(200)}`)
  const slow = Array.from({ length: 20 }, () =>
    exchange(stack.proxy.port, head, stack.capture, { trickle: { bytes: 1, everyMs: 1_000 }, timeoutMs: 40_000 }),
  )
  const problems: string[] = []
  expect(await sendGood(stack, 'served-meanwhile', problems)).toBe(200)
  expect(problems).toEqual([])
  const answers = await Promise.all(slow)
  for (const answer of answers) {
    expect(answer.status).toBe(408)
    // serveProxy's default headersTimeout, looked for at least every second, with room for a loaded machine.
    expect(answer.closedAfterMs).toBeLessThan(20_000)
  }
  const seconds = answers.map((answer) => answer.closedAfterMs / 1_000)
  stack.conclude({
    note: `closed with 408 after ${Math.min(...seconds).toFixed(1)} to ${Math.max(...seconds).toFixed(1)} s: serveProxy's headersTimeout`,
  })
})
