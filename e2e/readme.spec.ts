import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import { createEmulator, type Emulator } from '../src/emulator/index.js'
import { serve, type RunningServer } from '../src/adapters/node/serve.js'
import { createProxy, type Proxy } from '../src/proxy/index.js'
import { example, exampleModule } from '../test/helpers/readme.js'
import { expect, test, watchConsole } from './support/fixtures.js'

const ROOT = resolve(import.meta.dirname, '..')
const KEY = 'sk_test_readme_browser'

/** Pages built from the README's examples, the real proxy on the same origin, the emulator behind it. */
async function site(pages: Record<string, { type: string; body: string }>) {
  const emulator = createEmulator({ apiKey: KEY })
  let proxy: Proxy | undefined
  const server: RunningServer = await serve(async (request) => {
    const path = new URL(request.url).pathname
    if (path === '/api/relay') return (proxy as Proxy).fetch(request)
    const page = pages[path]
    if (page) return new Response(page.body, { headers: { 'content-type': page.type } })
    if (path.startsWith('/dist/')) {
      return new Response(await readFile(join(ROOT, path)), { headers: { 'content-type': 'text/javascript' } })
    }
    return new Response('not found', { status: 404 })
  })
  proxy = createProxy({
    apiKey: KEY,
    allowedOrigins: [server.origin],
    upstreamUrl: 'http://conversion.test/api',
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
  })
  return {
    url: server.origin,
    emulator,
    close: async () => {
      proxy?.close()
      await server.close()
    },
  }
}

const names = (emulator: Emulator) =>
  emulator.engagements().map((record) => `${record.engagement.name} · ${record.engagement.contactEmail}`)

test('the README script tag works as pasted (served from this build instead of unpkg)', async ({ page }) => {
  const { code } = example('script-tag')
  // The only changes: the bundle comes from this build, and the integrity placeholder goes.
  const snippet = code
    .replace('https://unpkg.com/conversion-engagements/dist/conversion-engagements.min.js', '/dist/conversion-engagements.min.js')
    .replace(/\s+integrity="[^"]*" crossorigin="anonymous"/, '')
  expect(snippet).not.toBe(code)
  const app = await site({
    '/': {
      type: 'text/html',
      body: `<!doctype html><html><head><meta charset="utf-8"><title>README</title><link rel="icon" href="data:,">${snippet}</head><body></body></html>`,
    },
  })
  try {
    const problems = watchConsole(page)
    await page.goto(app.url)
    await page.waitForFunction(() => window.conversion?.loaded === true)
    await page.evaluate(() => window.conversion!('flush'))
    await expect.poll(() => names(app.emulator), { timeout: 15_000 }).toEqual(['Signed up · john@example.com'])
    expect(problems).toEqual([])
  } finally {
    await app.close()
  }
})

test('the README React example works in the browser', async ({ page }) => {
  const module = exampleModule('react')
  const bundle = await build({
    stdin: {
      contents: `import { createElement } from 'react'
import { createRoot } from 'react-dom/client'
import { ExportButton } from ${JSON.stringify(module)}
createRoot(document.getElementById('root')).render(createElement(ExportButton, { email: 'john@example.com' }))`,
      resolveDir: ROOT,
      loader: 'tsx',
    },
    bundle: true,
    write: false,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  })
  const app = await site({
    '/': {
      type: 'text/html',
      body: '<!doctype html><html><head><meta charset="utf-8"><title>React</title><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>',
    },
    '/app.js': { type: 'text/javascript', body: bundle.outputFiles[0]!.text },
  })
  try {
    const problems = watchConsole(page)
    await page.goto(app.url)
    await page.getByRole('button', { name: 'Export' }).click()
    await expect.poll(() => names(app.emulator), { timeout: 15_000 }).toEqual(['Report Exported · john@example.com'])
    expect(app.emulator.engagements()[0]?.engagement.data).toEqual({ format: 'csv' })
    expect(problems).toEqual([])
  } finally {
    await app.close()
  }
})
