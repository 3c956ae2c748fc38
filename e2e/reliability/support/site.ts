/**
 * The customer's site, on its own loopback origin: pages that embed the BUILT script-tag bundle
 * the way the README shows, with the proxy (through the gate) as the tracker's endpoint.
 */
import { PageServer } from '../../support/page-server.js'

/**
 * The page's own hook: every tracker event that says what became of an engagement goes to the
 * suite's ledger through `window.__ledger` (a Playwright binding), so the count survives reloads
 * and crashes.
 */
const LEDGER_HOOK = `window.conversion('subscribe', function (event) { if (event.type !== 'queued' && event.type !== 'request' && window.__ledger) window.__ledger(event) });`

/** The snippet, then the ledger hook. */
function snippet(endpoint: string): string {
  return `<script>
  window.conversion = window.conversion || function () { (conversion.q = conversion.q || []).push([arguments, Date.now()]) };
  conversion('init', Object.assign({ endpoint: ${JSON.stringify(endpoint)} }, JSON.parse(new URLSearchParams(location.search).get('options') || '{}')));
  ${LEDGER_HOOK}
</script>
<script async src="/dist/conversion-engagements.min.js"></script>`
}

/** The external script of the strict-CSP page: what an app bundle does, without any inline code. */
const CSP_APP = `${LEDGER_HOOK}
window.conversion('identify', 'csp@example.com');
window.appTracked = [];
for (var i = 0; i < 20; i++) {
  var result = window.conversion('track', { type: 'PRODUCT_ACTIVITY', name: 'From the app script ' + i });
  if (result && result.ok) window.appTracked.push(result.id);
}
`

function html(title: string, head: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>${head}</head><body><h1>${title}</h1></body></html>`
}

export class Site extends PageServer {
  constructor(endpoint: string) {
    // `no-cache`, not `no-store`: a `no-store` page is kept out of the back/forward cache.
    super({ cacheControl: 'no-cache', folders: ['/dist/'] })
    this.pages.set('/app.html', html('App', snippet(endpoint)))
    this.pages.set('/other.html', html('Another page of the site', ''))
    this.pages.set(
      '/csp.html',
      html(
        'Strict CSP',
        `<script src="/dist/conversion-engagements.min.js" data-endpoint="${endpoint}"></script><script src="/csp-app.js"></script>`,
      ),
    )
    this.pages.set('/csp-app.js', CSP_APP)
  }

  get origin(): string {
    return this.url
  }

  /** The tracker page, with tracker options. */
  app(options: object = {}): string {
    return `${this.origin}/app.html?options=${encodeURIComponent(JSON.stringify(options))}`
  }
}
