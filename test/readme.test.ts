import { readFileSync } from 'node:fs'
import { createElement } from 'react'
import { renderToString } from 'react-dom/server'
import { describe, expect, it, vi } from 'vitest'
import { startEmulator } from '../src/emulator/index.js'
import { resolveProxyOptions } from '../src/proxy/options.js'
import { verifyIdentity } from '../src/proxy/identity.js'
import { resolveOptions, type Platform } from '../src/tracker/options.js'
import { declaredOptions, entrySource, exampleModule, exportTable, optionTable } from './helpers/readme.js'

const APP = 'https://app.example.com'

// The README's emulator example is a test file of its own: importing it here registers its
// `beforeAll`, `it` and `afterAll` in this file, so it runs exactly as a user would run it.
await import(exampleModule('emulator'))

describe('README examples', () => {
  it('sends from a backend as shown, against the emulator', async () => {
    const conversion = await startEmulator({ apiKey: 'sk_test_readme_server' })
    process.env.CONVERSION_API_KEY = 'sk_test_readme_server'
    process.env.CONVERSION_API_URL = conversion.url
    delete process.env.REDIS_URL
    try {
      const { result, results } = (await import(exampleModule('server'))) as {
        result: { status: string }
        results: { status: string; field?: string }[]
      }
      expect(result).toMatchObject({ status: 'accepted' })
      expect(results).toEqual([
        { status: 'accepted', id: 'call-8812' },
        expect.objectContaining({ status: 'rejected', field: 'contactEmail', rule: 'format' }),
      ])
      expect(conversion.ids()).toHaveLength(2)
    } finally {
      delete process.env.CONVERSION_API_URL
      await conversion.close()
    }
  })

  it('serves the proxy on Node as shown (on a free port instead of 8787)', async () => {
    process.env.CONVERSION_API_KEY = 'sk_test_readme_node'
    const { server } = (await import(exampleModule('node', [['port: 8787', 'port: 0']]))) as {
      server: { url: string; close(): Promise<void> }
    }
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/relay$/)
      const preflight = await fetch(server.url, { method: 'OPTIONS', headers: { origin: APP } })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(APP)
      const foreign = await fetch(server.url, { method: 'POST', headers: { origin: 'https://elsewhere.example' }, body: '{}' })
      expect(foreign.status).toBe(403)
    } finally {
      await server.close()
    }
  })

  it('answers as a Next.js route handler as shown', async () => {
    process.env.CONVERSION_API_KEY = 'sk_test_readme_next'
    const route = (await import(exampleModule('nextjs'))) as { POST: (request: Request) => Promise<Response>; OPTIONS: typeof route.POST }
    const preflight = await route.OPTIONS(new Request('https://app.example.com/api/relay', { method: 'OPTIONS', headers: { origin: APP } }))
    expect(preflight.status).toBe(204)
    const malformed = await route.POST(
      new Request('https://app.example.com/api/relay', {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json' },
        body: '{',
      }),
    )
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toEqual({ message: 'request body must be JSON: it could not be parsed' })
  })

  it('signs identities as shown, and the proxy accepts the signature', async () => {
    process.env.IDENTITY_SECRET = 'readme-identity-secret'
    const { signature } = (await import(exampleModule('identity'))) as { signature: string }
    expect(await verifyIdentity('john@example.com', signature, 'readme-identity-secret', Date.now())).toBe(true)
    expect(await verifyIdentity('jane@example.com', signature, 'readme-identity-secret', Date.now())).toBe(false)
  })

  it('renders the React example on the server without a browser, warning once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    try {
      const { ExportButton, tracker } = (await import(exampleModule('react'))) as {
        ExportButton: (props: { email: string }) => unknown
        tracker: { track(input: object): { ok: boolean } }
      }
      const html = renderToString(createElement(ExportButton as never, { email: 'john@example.com' }))
      expect(html).toBe('<button>Export</button>')
      expect(tracker.track({ type: 'PRODUCT_ACTIVITY' })).toMatchObject({ ok: false, error: { code: 'unsupported' } })
      expect(warn.mock.calls.filter((call) => String(call[1] ?? call[0]).includes('not in a browser'))).toHaveLength(1)
    } finally {
      warn.mockRestore()
    }
  })
})

describe('README option tables', () => {
  /** A default as the README writes it: `20`, `'default'`, `false`, `{ requests: 200, windowMs: 10000 }`. */
  const literal = (text: string): unknown => {
    const code = /^`(.+)`$/.exec(text)?.[1]
    if (code === undefined) return undefined
    // A global such as `console` is the object itself.
    if (/^[a-z]\w*$/.test(code) && code in globalThis) return (globalThis as Record<string, unknown>)[code]
    return JSON.parse(code.replace(/'/g, '"').replace(/([{,]\s*)(\w+):/g, '$1"$2":'))
  }

  /**
   * Each row's default, where the README gives one as a literal, equals what the code resolved;
   * `retry` is flattened into the `retryBaseDelay` and `retryMaxDelay` options it comes from.
   */
  const expectDefaults = (rows: { option: string; fallback: string }[], resolvedOptions: object) => {
    const resolved = resolvedOptions as Record<string, unknown>
    const retry = resolved.retry as { baseMs: number; maxMs: number }
    const actual: Record<string, unknown> = { ...resolved, retryBaseDelay: retry.baseMs, retryMaxDelay: retry.maxMs }
    for (const { option, fallback } of rows) {
      const expected = literal(fallback)
      if (expected !== undefined) expect(actual[option], option).toEqual(expected)
    }
  }

  it('lists every tracker option, with the default the code applies', () => {
    const rows = optionTable('tracker')
    expect(rows.map((row) => row.option).sort()).toEqual(declaredOptions('src/tracker/options.ts', 'TrackerOptions').sort())
    expectDefaults(rows, resolveOptions({ endpoint: '/api/relay' }, {} as Platform))
  })

  it('lists every proxy option but the injection points, with the default the code applies', () => {
    const rows = optionTable('proxy')
    const injected = ['clientKey', 'guard', 'coalescer', 'memory', 'pacer', 'sha256', 'fetch', 'now', 'random']
    expect(rows.map((row) => row.option).sort()).toEqual(
      declaredOptions('src/proxy/options.ts', 'ProxyOptions')
        .filter((name) => !injected.includes(name))
        .sort(),
    )
    expectDefaults(rows, resolveProxyOptions({ apiKey: 'sk_test_x', allowedOrigins: [APP] }))
  })
})

describe('README exports table', () => {
  it('lists exactly what each entry exports at run time (the Worker entry, which needs workerd, by its source)', async () => {
    const rows = exportTable()
    const entries = [
      'conversion-engagements',
      'conversion-engagements/proxy',
      'conversion-engagements/node',
      'conversion-engagements/redis',
      'conversion-engagements/server',
      'conversion-engagements/worker',
      'conversion-engagements/emulator',
    ]
    expect(rows.map((row) => row.entry)).toEqual(expect.arrayContaining(entries))
    for (const { entry, names } of rows) {
      const source = entrySource(entry)
      if (!source) continue
      if (entry.endsWith('/worker')) {
        const text = readFileSync(source, 'utf8')
        const exported = [...text.matchAll(/^export (?:async )?(?:function|const|class) (\w+)|^export \{ (\w+) \}/gm)].map(
          (match) => match[1] ?? match[2],
        )
        expect(names.sort(), entry).toEqual(exported.sort())
        continue
      }
      expect(names.sort(), entry).toEqual(Object.keys(await import(source)).sort())
    }
  })
})
