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
import { connect, createServer as createTcpServer } from 'node:net'
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
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' }
/** Files the site may serve, by URL path prefix. */
const SERVED = { '/dist/': 'dist/', '/node_modules/idb-keyval/': 'node_modules/idb-keyval/' }

/** Listens on `port` on loopback, or on any free port when it is taken. */
async function listen(server, port) {
  const attempt = (value) =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(value, '127.0.0.1', () => {
        server.off('error', reject)
        resolve(server.address().port)
      })
    })
  return attempt(port).catch((error) => (error.code === 'EADDRINUSE' ? attempt(0) : Promise.reject(error)))
}

/** The demo page, with the ES module build in place of the script tag for `/esm.html`. */
async function page(esm) {
  const html = await readFile(join(root, 'demo/index.html'), 'utf8')
  if (!esm) return html
  const module = await readFile(join(root, 'demo/esm-tracker.html'), 'utf8')
  return html
    .replace(/ *<!-- tracker:[\s\S]*<!-- \/tracker -->\n/, module)
    .replace('aria-current="page">Script tag', '>Script tag')
    .replace('>ES module<', ' aria-current="page">ES module<')
}

function respond(response, status, body, type = 'text/plain') {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  response.end(body)
}

// The proxy listens behind a gate the page can close: "offline" means refused connections, while
// the proxy itself, with its memory of what Conversion acknowledged, keeps running.
let proxyUp = true
const connections = new Set()
const gate = createTcpServer((socket) => {
  if (!proxyUp) return socket.destroy()
  const inner = connect(proxy.port, '127.0.0.1')
  for (const end of [socket, inner]) {
    connections.add(end)
    end.on('error', () => end.destroy())
    end.on('close', () => connections.delete(end))
  }
  socket.pipe(inner).pipe(socket)
})

let config = {}
const site = createServer(async (request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname
  if (path === '/demo-config.js') return respond(response, 200, `window.DEMO = ${JSON.stringify(config)}\n`, TYPES['.js'])
  if (path === '/' || path === '/esm.html') return respond(response, 200, await page(path === '/esm.html'), TYPES['.html'])
  if (path === '/demo/proxy' && request.method === 'POST') {
    let body = ''
    for await (const chunk of request) body += chunk
    proxyUp = JSON.parse(body).up === true
    if (!proxyUp) for (const connection of connections) connection.destroy()
    return respond(response, 200, JSON.stringify({ up: proxyUp }), 'application/json')
  }
  const prefix = Object.keys(SERVED).find((candidate) => path.startsWith(candidate))
  const relative = prefix ? SERVED[prefix] + path.slice(prefix.length) : `demo${path}`
  const file = normalize(join(root, relative))
  if (!file.startsWith(root)) return respond(response, 403, 'forbidden')
  try {
    respond(response, 200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream')
  } catch {
    respond(response, 404, 'not found')
  }
})

const sitePort = await listen(site, Number(process.env.DEMO_PORT ?? 3000))
const siteOrigin = `http://127.0.0.1:${sitePort}`
const emulator = realKey ? undefined : await startEmulator({ apiKey: DEMO_KEY })
const proxy = await serveProxy({
  apiKey: realKey ?? DEMO_KEY,
  ...(emulator ? { upstreamUrl: emulator.url } : {}),
  allowedOrigins: [siteOrigin, `http://localhost:${sitePort}`],
})
const gatePort = await listen(gate, Number(process.env.PROXY_PORT ?? 8787))
config = { endpoint: `http://127.0.0.1:${gatePort}${new URL(proxy.url).pathname}`, emulator: emulator?.origin ?? null }

if (!emulator)
  console.warn('\n!!! CONVERSION_API_KEY is set: the demo forwards to the REAL Conversion API and records real engagements !!!\n')
console.log(`
Demo:       ${siteOrigin}/   (the ES module build: ${siteOrigin}/esm.html)
Proxy:      ${config.endpoint}
Conversion: ${emulator ? `the local emulator at ${emulator.url}` : 'the real API (CONVERSION_API_KEY is set)'}
Ctrl-C stops everything.
`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  for (const connection of connections) connection.destroy()
  site.closeAllConnections()
  await Promise.all([new Promise((done) => site.close(done)), new Promise((done) => gate.close(done)), proxy.close(), emulator?.close()])
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
