import { describe, expect, it } from 'vitest'
import { baseHeaders, corsHeaders, preflight } from '../src/proxy/cors.js'
import { matchOrigin, parseAllowedOrigins } from '../src/proxy/origins.js'
import { createProxy } from '../src/proxy/proxy.js'

const KEY = 'sk_test_fake_origins_test_0123456789abcdef'

describe('parseAllowedOrigins: entries in the form browsers send', () => {
  it('normalizes letter case, a default port, a trailing slash and a non-ASCII host', () => {
    const { exact } = parseAllowedOrigins([
      'https://App.Example.com',
      'https://app.example.com:443',
      'http://localhost:80/',
      'https://bücher.example',
      'http://127.0.0.1:3000',
      'http://[::1]:3000',
    ])
    expect([...exact]).toEqual([
      'https://app.example.com',
      'http://localhost',
      'https://xn--bcher-kva.example',
      'http://127.0.0.1:3000',
      'http://[::1]:3000',
    ])
  })

  it('keeps wildcards over domains of one owner, with their scheme and port', () => {
    const { wildcards } = parseAllowedOrigins(['https://*.Example.com', 'http://*.preview.example.com:8443', 'https://*.myapp.vercel.app'])
    expect(wildcards.map(({ scheme, domain, port }) => `${scheme} ${domain} ${port}`)).toEqual([
      'https example.com ',
      'http preview.example.com 8443',
      'https myapp.vercel.app ',
    ])
  })

  it.each([
    ['https://*.com', 'would allow every site under com, a public suffix'],
    ['https://*.co.uk', 'would allow every site under co.uk, a public suffix'],
    ['https://*.vercel.app', 'would allow every site under vercel.app, a public suffix'],
    ['https://*.github.io', 'would allow every site under github.io, a public suffix'],
    ['https://*.0.0.1', 'is not an origin'],
    ['https://app.*.example.com', 'may hold `*` only as the first label'],
    ['https://*example.com', 'may hold `*` only as the first label'],
    ['https://*.*.example.com', 'may hold `*` only as the first label'],
    ['*', 'is not an origin'],
    ['null', 'cannot be allowed: `null` is the origin of sandboxed frames'],
    ['app.example.com', 'is not an origin'],
    ['ftp://example.com', 'must start with http:// or https://'],
    ['https://app.example.com/app', 'must not hold a path'],
    ['https://app.example.com/?', 'must not hold a query or a fragment'],
    ['https://app.example.com#top', 'must not hold a query or a fragment'],
    ['https://user:secret@app.example.com', 'must not hold a user name or password'],
    ['https://app.example.com.', 'must not end with a dot'],
    ['https://.example.com', 'has a host no browser sends'],
    ['https://app..example.com', 'has a host no browser sends'],
  ])('refuses %s, naming it and the rule', (entry, rule) => {
    expect(() => parseAllowedOrigins(['https://fine.example.com', entry])).toThrow(TypeError)
    expect(() => parseAllowedOrigins([entry])).toThrow(
      `conversion-engagements proxy: \`allowedOrigins\` entry ${JSON.stringify(entry)} ${rule}`,
    )
  })

  it('refuses an empty list and entries that are not strings', () => {
    expect(() => parseAllowedOrigins([])).toThrow(/`allowedOrigins` must list at least one origin/)
    expect(() => parseAllowedOrigins(['https://a.example.com', 42 as unknown as string])).toThrow(/`allowedOrigins\[1\]` must be a string/)
  })
})

describe('matchOrigin: only a well-formed serialized origin, echoed as sent', () => {
  const allowed = parseAllowedOrigins([
    'https://app.example.com',
    'https://*.example.org',
    'http://localhost:3000',
    'https://*.amazonaws.com',
  ])

  it.each([
    'https://app.example.com',
    'https://a.example.org',
    'https://pr-1.preview.example.org',
    'http://localhost:3000',
    'https://x.amazonaws.com',
  ])('echoes %s', (origin) => expect(matchOrigin(allowed, origin)).toBe(origin))

  it.each([
    'https://example.org',
    'https://.example.org',
    'https://evil.com?.example.org',
    'https://evil.com/.example.org',
    'https://evil.com#.example.org',
    'https://evil.com\\.example.org',
    'https://user@a.example.org',
    'https://user:pw@app.example.com',
    'https://app.example.com, https://evil.com',
    'https://evil.com, https://app.example.com',
    'https://app.example.com https://evil.com',
    'https://APP.example.com',
    'HTTPS://app.example.com',
    'https://app.example.com:443',
    'https://app.example.com/',
    'https://app.example.com.',
    'https://a.example.org.',
    'https://a..example.org',
    'http://a.example.org',
    'https://a.example.org:8443',
    'http://localhost:03000',
    'http://localhost:3000 ',
    'https://evil-example.org',
    'https://bucket.s3.amazonaws.com',
    'null',
    '',
    `https://${'a.'.repeat(200)}example.org`,
  ])('refuses %j', (origin) => expect(matchOrigin(allowed, origin)).toBeUndefined())

  it('refuses a missing header', () => {
    expect(matchOrigin(allowed, null)).toBeUndefined()
    expect(matchOrigin(allowed, undefined)).toBeUndefined()
  })
})

describe('CORS headers', () => {
  it('puts Vary: Origin and nosniff on every answer, and Cache-Control on the preflight', () => {
    expect(baseHeaders()).toEqual({ vary: 'Origin', 'x-content-type-options': 'nosniff' })
    expect(corsHeaders('https://app.example.com')).toEqual({ ...baseHeaders(), 'access-control-allow-origin': 'https://app.example.com' })
    const answer = preflight('https://app.example.com')
    expect(answer.status).toBe(204)
    expect(Object.fromEntries(answer.headers)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '86400',
      'cache-control': 'no-store',
      vary: 'Origin',
      'x-content-type-options': 'nosniff',
    })
  })
})

describe('createProxy with these rules', () => {
  const proxy = () =>
    createProxy({
      apiKey: KEY,
      allowedOrigins: ['https://app.example.com', 'https://*.preview.example.com'],
      fetch: () => Promise.reject(new Error('not called')),
    })
  const post = (origin: string) =>
    proxy().fetch(
      new Request('https://proxy.example.com/api/relay', {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: '{}',
      }),
    )

  it('refuses an allowedOrigins entry over a public suffix when it is created', () => {
    expect(() => createProxy({ apiKey: KEY, allowedOrigins: ['https://*.vercel.app'] })).toThrow(/allowedOrigins.*public suffix/)
  })

  it('refuses origins no browser sends, even when they end like an allowed one', async () => {
    for (const origin of [
      'https://evil.com?.preview.example.com',
      'https://.preview.example.com',
      'https://x@pr-1.preview.example.com',
      'https://app.example.com, https://evil.com',
    ]) {
      const response = await post(origin)
      expect(response.status, origin).toBe(403)
      expect(response.headers.get('access-control-allow-origin')).toBeNull()
    }
    const allowed = await post('https://pr-1.preview.example.com')
    expect(allowed.status).toBe(400)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://pr-1.preview.example.com')
    expect(allowed.headers.get('x-content-type-options')).toBe('nosniff')
  })
})
