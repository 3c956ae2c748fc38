#!/usr/bin/env node
/**
 * `npm start`: the whole system on loopback, nothing to configure. Builds what is missing, then
 * starts the Conversion emulator (or, with CONVERSION_API_KEY set, talks to the real API), the
 * Node proxy that holds the key, and the demo site, and prints the URL to open. Ctrl-C stops all.
 *
 * Ports: DEMO_PORT (default 3000) and PROXY_PORT (default 8787); a busy port falls back to a free one.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const built = ['dist/index.js', 'dist/node.js', 'dist/emulator.js', 'dist/conversion-engagements.min.js']
if (built.some((file) => !existsSync(join(root, file)))) {
  console.log('Building the package first (npm run build)...')
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (build.status !== 0) process.exit(build.status ?? 1)
}

const { startEmulator } = await import('../dist/emulator.js')
const { serveProxy } = await import('../dist/node.js')

const realKey = process.env.CONVERSION_API_KEY || undefined
const DEMO_KEY = 'sk_test_demo_emulator_only'
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json' }

/** Listens on `port`, or on any free port when it is taken. */
async function listen(server, port) {
  const attempt = (value) =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(value, '127.0.0.1', () => {
        server.off('error', reject)
        resolve(server.address().port)
      })
    })
  try {
    return await attempt(port)
  } catch (error) {
    if (error.code !== 'EADDRINUSE') throw error
    return attempt(0)
  }
}

let config = {}
const site = createServer(async (request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname
  if (path === '/demo-config.js') {
    response.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' })
    return response.end(`window.DEMO = ${JSON.stringify(config)}\n`)
  }
  const relative = path === '/' ? 'demo/index.html' : path.startsWith('/dist/') ? path.slice(1) : `demo${path}`
  const file = normalize(join(root, relative))
  if (!file.startsWith(root)) return response.writeHead(403).end()
  try {
    const body = await readFile(file)
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
    response.end(body)
  } catch {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  }
})
const sitePort = await listen(site, Number(process.env.DEMO_PORT ?? 3000))
const siteOrigin = `http://127.0.0.1:${sitePort}`

const emulator = realKey ? undefined : await startEmulator({ apiKey: DEMO_KEY })
const proxyOptions = {
  apiKey: realKey ?? DEMO_KEY,
  ...(emulator ? { upstreamUrl: emulator.url } : {}),
  allowedOrigins: [siteOrigin, `http://localhost:${sitePort}`],
}
const proxy = await serveProxy({ ...proxyOptions, port: Number(process.env.PROXY_PORT ?? 8787) }).catch((error) =>
  error.code === 'EADDRINUSE' ? serveProxy({ ...proxyOptions, port: 0 }) : Promise.reject(error),
)
config = { endpoint: proxy.url, emulator: emulator?.origin ?? null }

const lines = [
  `Demo:      ${siteOrigin}/`,
  `Proxy:     ${proxy.url}`,
  emulator ? `Conversion: the local emulator at ${emulator.url}` : 'Conversion: THE REAL API (CONVERSION_API_KEY is set): engagements are recorded in your account',
  'Ctrl-C stops everything.',
]
if (!emulator) console.warn('\n!!! CONVERSION_API_KEY is set: the demo forwards to the real Conversion API !!!\n')
console.log(`\n${lines.join('\n')}\n`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  site.closeAllConnections()
  await Promise.all([new Promise((done) => site.close(done)), proxy.close(), emulator?.close()])
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
