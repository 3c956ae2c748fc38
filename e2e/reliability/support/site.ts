/**
 * The customer's site, on its own loopback origin: pages that embed the BUILT script-tag bundle
 * the way the README shows, with the proxy (through the gate) as the tracker's endpoint.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'

const BUNDLE = fileURLToPath(new URL('../../../dist/conversion-engagements.min.js', import.meta.url))

/**
 * The snippet, then the page's own hook: every tracker event that says what became of an
 * engagement goes to the suite's ledger through `window.__ledger` (a Playwright binding), so the
 * count survives reloads and crashes.
 */
function snippet(endpoint: string): string {
  return `<script>
  window.conversion = window.conversion || function () { (conversion.q = conversion.q || []).push([arguments, Date.now()]) };
  conversion('init', Object.assign({ endpoint: ${JSON.stringify(endpoint)} }, JSON.parse(new URLSearchParams(location.search).get('options') || '{}')));
  conversion('subscribe', function (event) { if (event.type !== 'queued' && event.type !== 'request' && window.__ledger) window.__ledger(event) });
</script>
<script async src="/dist/conversion-engagements.min.js"></script>`
}

/** The external script of the strict-CSP page: what an app bundle does, without any inline code. */
const CSP_APP = `window.conversion('subscribe', function (event) { if (event.type !== 'queued' && event.type !== 'request' && window.__ledger) window.__ledger(event) });
window.conversion('identify', 'csp@example.com');
window.appTracked = [];
for (var i = 0; i < 20; i++) {
  var result = window.conversion('track', { type: 'PRODUCT_ACTIVITY', name: 'From the app script ' + i });
  if (result && result.ok) window.appTracked.push(result.id);
}
`

export class Site {
  origin = ''
  /** Response headers of `/csp.html`. */
  cspHeader = ''
  private bundle: Buffer | undefined
  private server = createServer((request, response) => void this.route(request, response))

  constructor(private readonly endpoint: string) {}

  async start(): Promise<this> {
    this.bundle = await readFile(BUNDLE)
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.origin = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** The tracker page, with tracker options. */
  app(options: object = {}): string {
    return `${this.origin}/app.html?options=${encodeURIComponent(JSON.stringify(options))}`
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://site').pathname
    const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      // `no-cache`, not `no-store`: a `no-store` page is kept out of the back/forward cache.
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache', ...headers })
      response.end(body)
    }
    const html = (title: string, head: string) =>
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>${head}</head><body><h1>${title}</h1></body></html>`
    switch (path) {
      case '/dist/conversion-engagements.min.js':
        return send(200, 'text/javascript; charset=utf-8', this.bundle as Buffer)
      case '/app.html':
        return send(200, 'text/html; charset=utf-8', html('App', snippet(this.endpoint)))
      case '/other.html':
        return send(200, 'text/html; charset=utf-8', html('Another page of the site', ''))
      case '/csp.html':
        return send(
          200,
          'text/html; charset=utf-8',
          html(
            'Strict CSP',
            `<script src="/dist/conversion-engagements.min.js" data-endpoint="${this.endpoint}"></script><script src="/csp-app.js"></script>`,
          ),
          { 'content-security-policy': this.cspHeader },
        )
      case '/csp-app.js':
        return send(200, 'text/javascript; charset=utf-8', CSP_APP)
      case '/favicon.ico':
        return send(204, 'image/x-icon', '')
      default:
        return send(404, 'text/plain', 'not found')
    }
  }
}
