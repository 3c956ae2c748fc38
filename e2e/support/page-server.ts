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

export interface PageServerOptions {
  /**
   * Of every answer. `no-store` keeps each load fresh; `no-cache` also revalidates every load,
   * but does not keep pages out of the back/forward cache as `no-store` does.
   */
  cacheControl: 'no-store' | 'no-cache'
  /** Folders of the repository served as files, as `/dist/`. */
  folders: string[]
}

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>

/**
 * A loopback server for pages that embed the BUILT bundles: pages held in memory (typed by their
 * extension), files of the given repository folders, a 204 favicon, and any handlers a subclass
 * adds by path.
 */
export class PageServer {
  /** Pages by path, as `/app.html` (or a script, as `/app.js`). */
  pages = new Map<string, string>()
  /** Headers added to every HTML page (for example a Content-Security-Policy). */
  pageHeaders: Record<string, string> = {}
  /** Hold the script-tag bundle back this long, to test calls made before it loads. */
  bundleDelayMs = 0
  url = ''
  protected handlers = new Map<string, Handler>()
  private server = createServer((request, response) => void this.route(request, response))

  constructor(private readonly options: PageServerOptions) {}

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
      const handler = this.handlers.get(path)
      if (handler) return await handler(request, response)
      if (path === '/favicon.ico') return this.send(response, 204, '')
      const page = this.pages.get(path)
      if (page !== undefined) return this.send(response, 200, page, extname(path), this.headersOf(path))
      if (this.options.folders.some((folder) => path.startsWith(folder))) {
        if (path.endsWith('.min.js') && this.bundleDelayMs > 0) await sleep(this.bundleDelayMs)
        const file = normalize(join(ROOT, path))
        if (!file.startsWith(ROOT)) return this.send(response, 403, 'forbidden')
        return this.send(response, 200, await readFile(file), extname(file), this.headersOf(file))
      }
      this.send(response, 404, 'not found')
    } catch (error) {
      this.send(response, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 404 : 500, String(error))
    }
  }

  private headersOf(path: string): Record<string, string> {
    return extname(path) === '.html' ? this.pageHeaders : {}
  }

  protected send(
    response: ServerResponse,
    status: number,
    body: string | Buffer,
    extension = '.txt',
    headers: Record<string, string> = {},
  ): void {
    response.writeHead(status, { 'content-type': TYPES[extension] ?? 'text/plain', 'cache-control': this.options.cacheControl, ...headers })
    response.end(body)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms))
}
