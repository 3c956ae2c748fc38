/**
 * Pacing held where requests are counted: at the receiver. The page is served from one origin
 * and the engagements endpoint from another, so every fetch is preflighted (CORS, JSON body)
 * until Chromium caches the preflight; the endpoint delays some preflights and some answers by
 * a fixed pattern. Arrival times are taken by the endpoint when each request reaches it, and no
 * sliding second may hold more than `maxRequestsPerSecond` of them (fetches and beacons alike),
 * for a burst of 3,000, one of 20,000, and two tabs of one origin tracking together.
 *
 * The bundle under test is `dist/conversion-engagements.min.js`, or `TRACKER_BUNDLE` (to run the
 * proof against another build).
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { expect, test, type Page } from '@playwright/test'
import { busiestWindow, eventually, setVisibility, trackMany } from './support/fixtures.js'

const BUNDLE = resolve(import.meta.dirname, '..', process.env.TRACKER_BUNDLE ?? 'dist/conversion-engagements.min.js')

/** Delays by a fixed pattern (never chance): the n-th preflight, and the n-th answer, wait this long. */
const PREFLIGHT_DELAYS_MS = [400, 0, 0, 250, 0, 0, 0, 120]
const ANSWER_DELAYS_MS = [10, 60, 300, 0, 900, 30, 0, 150, 20, 500]

interface Arrival {
  at: number
  transport: 'fetch' | 'beacon'
  ids: string[]
}

/** Two loopback servers: the page's origin, and the endpoint's, which records what reaches it. */
class CrossOrigin {
  arrivals: Arrival[] = []
  preflights = 0
  accepted = new Set<string>()
  duplicates = 0
  pageUrl = ''
  endpoint = ''
  private servers: Server[] = []

  async start(): Promise<this> {
    const bundle = readFileSync(BUNDLE, 'utf8')
    const [pages, api] = await Promise.all([
      listen((request, response) => {
        if (request.url?.startsWith('/tracker.js')) return send(response, 200, bundle, { 'content-type': 'text/javascript' })
        if (request.url?.startsWith('/page.html')) return send(response, 200, PAGE, { 'content-type': 'text/html; charset=utf-8' })
        return send(response, 404, '')
      }),
      listen((request, response) => void this.engagements(request, response)),
    ])
    this.servers = [pages!.server, api!.server]
    this.pageUrl = `${pages!.url}/page.html`
    this.endpoint = `${api!.url}/engagements`
    return this
  }

  async stop(): Promise<void> {
    for (const server of this.servers) {
      server.closeAllConnections()
      await new Promise((done) => server.close(done))
    }
  }

  private async engagements(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // The moment the request reaches the receiver: what a rate limit there counts.
    const at = Date.now()
    const cors = { 'access-control-allow-origin': String(request.headers.origin ?? '*') }
    if (request.method === 'OPTIONS') {
      await sleep(PREFLIGHT_DELAYS_MS[this.preflights++ % PREFLIGHT_DELAYS_MS.length]!)
      return send(response, 204, '', { ...cors, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type' })
    }
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const { batch } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { batch: { id: string }[] }
    const transport = String(request.headers['content-type']).startsWith('text/plain') ? 'beacon' : 'fetch'
    this.arrivals.push({ at, transport, ids: batch.map((item) => item.id) })
    await sleep(ANSWER_DELAYS_MS[this.arrivals.length % ANSWER_DELAYS_MS.length]!)
    let accepted = 0
    for (const { id } of batch) {
      if (this.accepted.has(id)) this.duplicates++
      else accepted++
      this.accepted.add(id)
    }
    send(response, 200, JSON.stringify({ accepted, duplicates: batch.length - accepted, rejected: [] }), {
      ...cors,
      'content-type': 'application/json',
    })
  }
}

/** The script-tag snippet, its options from the query string (the endpoint among them). */
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pacing</title><script>
window.conversion = window.conversion || function () { (conversion.q = conversion.q || []).push([arguments, Date.now()]) };
conversion('init', JSON.parse(new URLSearchParams(location.search).get('options')));
</script><script async src="/tracker.js"></script></head><body><h1>pacing</h1></body></html>`

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const server = createServer(handler)
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function send(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'cache-control': 'no-store', ...headers }).end(body)
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

async function open(page: Page, site: CrossOrigin, options: object): Promise<void> {
  await page.goto(`${site.pageUrl}?options=${encodeURIComponent(JSON.stringify({ endpoint: site.endpoint, ...options }))}`)
  await page.waitForFunction(() => window.conversion?.loaded === true)
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
}

function expectPacedAndDelivered(site: CrossOrigin, ids: string[], perSecond: number): void {
  expect(site.accepted.size).toBe(ids.length)
  expect([...site.accepted].sort()).toEqual([...ids].sort())
  const arrivals = site.arrivals.map((arrival) => arrival.at).sort((a, b) => a - b)
  expect(busiestWindow(arrivals, 1_000), `busiest second at the receiver, of ${arrivals.length} requests`).toBeLessThanOrEqual(perSecond)
  // Cross-origin indeed: the endpoint saw preflights.
  expect(site.preflights).toBeGreaterThan(0)
}

let site: CrossOrigin
test.beforeEach(async () => {
  site = await new CrossOrigin().start()
})
test.afterEach(async () => {
  await site.stop()
})

test('a burst of 3,000 to a cross-origin endpoint: at most 10 arrivals in any second at the receiver', async ({ page }) => {
  await open(page, site, { flushAt: 20 })
  const ids = await trackMany(page, 3_000, 'small')
  await eventually(() => site.accepted.size === 3_000, 'all 3,000 accepted', 60_000)
  expectPacedAndDelivered(site, ids, 10)
})

test('a burst of 20,000: at most 10 arrivals in any second at the receiver', async ({ page }) => {
  test.setTimeout(120_000)
  await open(page, site, { maxQueueSize: 20_000 })
  const ids = await trackMany(page, 20_000, 'large')
  await eventually(() => site.accepted.size === 20_000, 'all 20,000 accepted', 100_000)
  expectPacedAndDelivered(site, ids, 10)
  expect(site.duplicates).toBe(0)
})

test('two tabs of one origin tracking together: at most 3 arrivals in any second, beacons included', async ({ context }) => {
  test.setTimeout(90_000)
  const [first, second] = [await context.newPage(), await context.newPage()]
  // Nothing leaves until the page is hidden: then beacons take the slots, and the flush that
  // follows waits for them.
  const options = { maxRequestsPerSecond: 3, maxBatchSize: 50, requestTimeout: 3_000, flushAt: 100_000, flushInterval: 600_000 }
  await open(first, site, options)
  await open(second, site, options)
  const ids = (await Promise.all([trackMany(first, 1_500, 'first'), trackMany(second, 1_500, 'second')])).flat()
  await sleep(500)
  for (const page of [first, second]) await setVisibility(page, 'hidden')
  await eventually(() => site.arrivals.length > 0, 'the beacons', 10_000)
  for (const page of [first, second]) await setVisibility(page, 'visible')
  await second.evaluate(() => window.conversion!('flush'))
  await eventually(() => site.accepted.size === 3_000, 'all 3,000 accepted', 80_000)
  expect(site.arrivals[0]!.transport).toBe('beacon')
  expect(site.arrivals.some((arrival) => arrival.transport === 'fetch')).toBe(true)
  expectPacedAndDelivered(site, ids, 3)
})
