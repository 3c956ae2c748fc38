import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
}

/** One request that reached the engagements endpoint. */
export interface Arrival {
  /** Epoch ms when the request arrived. */
  at: number
  transport: 'fetch' | 'beacon'
  ids: string[]
  batch: Record<string, unknown>[]
  identity: Record<string, string> | undefined
  status: number
}

/** What the next requests should get instead of a settlement. */
export interface Failure {
  status: number
  headers?: Record<string, string>
}

/**
 * A loopback server for end-to-end tests: serves the BUILT bundles and test pages, and an
 * `/engagements` endpoint that speaks the proxy's wire contract (settlement, de-duplication by id)
 * and records every arrival. Tests steer it in-process.
 */
export class ContractServer {
  arrivals: Arrival[] = []
  /** Ids accepted, in order, each once. */
  accepted: string[] = []
  /** Ids answered as duplicates (they had been accepted before). */
  duplicates: string[] = []
  failures: Failure[] = []
  /** Answer every engagements request with this status until cleared. */
  failAll: Failure | undefined
  /** Hold the script-tag bundle back this long, to test calls made before it loads. */
  bundleDelayMs = 0
  /** Answer every engagements request only after this long. */
  latencyMs = 0
  /** Extra pages, by path. */
  pages = new Map<string, string>()
  /** Headers added to every HTML page (for example a Content-Security-Policy). */
  pageHeaders: Record<string, string> = {}
  private server = createServer((request, response) => void this.route(request, response))
  private seen = new Set<string>()
  url = ''

  async start(): Promise<this> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((done) => this.server.close(() => done()))
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    try {
      if (path === '/engagements') return await this.engagements(request, response)
      if (path === '/favicon.ico') return this.send(response, 204, '')
      const page = this.pages.get(path)
      if (page !== undefined) return this.send(response, 200, page, '.html', this.pageHeaders)
      if (path.startsWith('/dist/') || path.startsWith('/node_modules/') || path.startsWith('/e2e/pages/')) {
        if (path.endsWith('.min.js') && this.bundleDelayMs > 0) await sleep(this.bundleDelayMs)
        const file = normalize(join(ROOT, path))
        if (!file.startsWith(ROOT)) return this.send(response, 403, 'forbidden')
        const headers = extname(file) === '.html' ? this.pageHeaders : {}
        return this.send(response, 200, await readFile(file), extname(file), headers)
      }
      this.send(response, 404, 'not found')
    } catch (error) {
      this.send(response, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 404 : 500, String(error))
    }
  }

  private async engagements(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') return this.send(response, 405, JSON.stringify({ message: 'POST only' }), '.json')
    const at = Date.now()
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      batch: Record<string, unknown>[]
      identity?: Record<string, string>
    }
    const transport = String(request.headers['content-type']).startsWith('text/plain') ? 'beacon' : 'fetch'
    const arrival: Arrival = {
      at,
      transport,
      ids: body.batch.map((item) => String(item['id'])),
      batch: body.batch,
      identity: body.identity,
      status: 200,
    }
    this.arrivals.push(arrival)
    if (this.latencyMs > 0) await sleep(this.latencyMs)
    const failure = this.failAll ?? this.failures.shift()
    if (failure) {
      arrival.status = failure.status
      return this.send(response, failure.status, JSON.stringify({ message: 'failing on purpose' }), '.json', failure.headers)
    }
    let accepted = 0
    let duplicates = 0
    for (const id of arrival.ids) {
      if (this.seen.has(id)) {
        duplicates++
        this.duplicates.push(id)
      } else {
        this.seen.add(id)
        this.accepted.push(id)
        accepted++
      }
    }
    this.send(response, 200, JSON.stringify({ accepted, duplicates, rejected: [] }), '.json')
  }

  private send(
    response: ServerResponse,
    status: number,
    body: string | Buffer,
    extension = '.txt',
    headers: Record<string, string> = {},
  ): void {
    response.writeHead(status, { 'content-type': TYPES[extension] ?? 'text/plain', 'cache-control': 'no-store', ...headers })
    response.end(body)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms))
}
