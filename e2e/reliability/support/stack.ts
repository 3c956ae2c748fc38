/**
 * The whole system of one scenario, on loopback: the emulator as Conversion (in this process, so
 * its records can be read directly), the BUILT proxy as a child process behind a TCP gate, the
 * customer's site serving the BUILT script tag, and real Chromium pages. Everything it starts,
 * it stops; everything it hears is captured for the key check.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, type BrowserContext, type Page, type TestInfo } from '@playwright/test'
import { LIMITS } from '../../../src/contract.js'
import { startEmulator, type RunningEmulator } from '../../../src/emulator/index.js'
import type { TrackerEvent, TrackerStats } from '../../../src/tracker/types.js'
import type { TrackerOptions } from '../../../src/tracker/options.js'
import { Capture, newApiKey } from './capture.js'
import { Gate } from './gate.js'
import { duplicatesInFlightAtKills, type Kill } from './kills.js'
import { Ledger, type Counts, type Row } from './ledger.js'
import { ProxyProcess, type ProxyProcessOptions } from './proxy.js'
import { Site } from './site.js'

/** Quick retries keep scenarios short; the rules are the same as with the defaults. */
export const TRACKER_DEFAULTS = {
  flushInterval: 250,
  retryBaseDelay: 200,
  retryMaxDelay: 2_000,
  requestTimeout: 5_000,
} satisfies Partial<TrackerOptions>

/** The proxy answers (settles or says 503) well before the tracker gives up on a request. */
export const PROXY_DEFAULTS = {
  settleTimeout: 3_000,
  upstreamTimeout: 2_000,
  retryBaseDelay: 100,
  retryMaxDelay: 1_000,
  bodyTimeout: 5_000,
} satisfies ProxyProcessOptions

/** What a scenario expects to lose: nothing, or at most `bounded` (where the browser cannot help it). */
export interface Expectation {
  /** Engagements that may be lost, and are only when the tracker said it could not keep them. */
  bounded?: number
  /** A control: the old behaviour, whose duplicates the suite must see. */
  control?: 'duplicates'
  /**
   * Replicas killed with upstream requests out: duplicates whose first copy was inside one of
   * those requests are counted apart (at most a request's worth per kill), named in the verdict
   * and the note; any other duplicate still fails.
   */
  kills?: readonly Kill[]
  note?: string
}

export interface TrackSpec {
  /** Every `poisonEvery`-th engagement gets a type Conversion refuses (see `rejectTypes`). */
  poisonEvery?: number
  /** Bytes of padding in `data`, to make bodies large. */
  padding?: number
  name?: string
}

export const POISON_TYPE = 'REFUSED_BY_CONVERSION'

export class Stack {
  readonly key = newApiKey()
  readonly capture = new Capture()
  readonly ledger = new Ledger()
  readonly pageErrors: string[] = []
  emulator!: RunningEmulator
  gate!: Gate
  site!: Site
  proxy!: ProxyProcess
  /** The row of this scenario, once concluded. */
  row: Row | undefined
  private proxies: ProxyProcess[] = []
  private folder = mkdtempSync(join(tmpdir(), 'reliability-'))

  constructor(private readonly testInfo: TestInfo) {}

  /** A file path private to this scenario (state files). */
  file(name: string): string {
    return join(this.folder, name)
  }

  async start(context: BrowserContext, proxyOptions: ProxyProcessOptions = {}, proxyArgs: readonly string[] = []): Promise<void> {
    this.emulator = await startEmulator({ apiKey: this.key, random: evenlySpread() })
    this.gate = await new Gate(0, this.capture).start()
    this.site = await new Site(`${this.gate.origin}/api/relay`).start()
    await this.startProxy(proxyOptions, proxyArgs)
    await context.exposeBinding('__ledger', (_source, event: TrackerEvent) => this.ledger.record(event))
    context.on('console', (message) => this.capture.add('browser console', `${message.type()}: ${message.text()}\n`))
    context.on('weberror', (error) => {
      this.pageErrors.push(String(error.error()))
      this.capture.add('page errors', `${String(error.error())}\n`)
    })
  }

  /**
   * Starts a proxy process (the gate sends new connections to it); the previous one keeps running
   * unless stopped. `nodeArgs` go to Node (see `ProxyProcess.start`).
   */
  async startProxy(options: ProxyProcessOptions = {}, nodeArgs: readonly string[] = []): Promise<ProxyProcess> {
    const proxy = await this.startReplica(options, nodeArgs)
    this.proxy = proxy
    this.gate.retarget(proxy.port)
    return proxy
  }

  /**
   * Starts a proxy process of this stack (same key, origin and Conversion) without sending the
   * gate to it: one replica of a fleet, behind a balancer of the scenario's. Stopped with the stack.
   */
  async startReplica(options: ProxyProcessOptions = {}, nodeArgs: readonly string[] = []): Promise<ProxyProcess> {
    const proxy = await ProxyProcess.start(
      this.key,
      { ...PROXY_DEFAULTS, allowedOrigins: [this.site.origin], upstreamUrl: this.emulator.url, ...options },
      this.capture,
      nodeArgs,
    )
    this.proxies.push(proxy)
    return proxy
  }

  /** Opens the site's tracker page and waits for the bundle; identifies the contact when given. */
  async open(page: Page, options: Partial<TrackerOptions> = {}, email = 'john@example.com'): Promise<Page> {
    await page.goto(this.site.app({ ...TRACKER_DEFAULTS, ...options }))
    await page.waitForFunction(() => window.conversion?.loaded === true)
    if (email) expect(await page.evaluate((address) => window.conversion!('identify', address), email)).toEqual({ ok: true })
    return page
  }

  /** Tracks `count` engagements in the page and books their ids. */
  async track(page: Page, count: number, spec: TrackSpec = {}): Promise<string[]> {
    const results = await page.evaluate(
      ({ count, spec, poison }) => {
        const out: { id: string; poison: boolean }[] = []
        const padding = 'p'.repeat(spec.padding ?? 0)
        for (let i = 0; i < count; i++) {
          const isPoison = spec.poisonEvery !== undefined && i % spec.poisonEvery === spec.poisonEvery - 1
          const result = window.conversion!('track', {
            type: isPoison ? poison : 'PRODUCT_ACTIVITY',
            name: `${spec.name ?? 'Step'} ${i}`,
            data: padding ? { i, padding } : { i },
          })
          if (!result?.ok) throw new Error(`track refused a valid engagement: ${JSON.stringify(result)}`)
          out.push({ id: result.id, poison: isPoison })
        }
        return out
      },
      { count, spec, poison: POISON_TYPE },
    )
    const ids = results.map((result) => result.id)
    this.book(ids, spec.name ?? 'Step')
    for (const { id, poison } of results) if (poison) this.ledger.expectRejected.add(id)
    return ids
  }

  /** Books `ids` as tracked, under `label`: `track` does it for its own, scenarios for engagements tracked or sent another way. */
  book(ids: Iterable<string>, label: string): void {
    for (const id of ids) {
      this.ledger.tracked.add(id)
      this.ledger.labels.set(id, label)
    }
  }

  stats(page: Page): Promise<TrackerStats> {
    return page.evaluate(async () => (await window.conversion!('stats'))!)
  }

  /** The tab that sends for the origin, among `pages`. */
  async leader(pages: Page[]): Promise<Page | undefined> {
    for (const page of pages) if ((await this.stats(page)).leader) return page
    return undefined
  }

  counts(): Counts {
    return this.ledger.count(this.emulator.ids())
  }

  /**
   * Waits, bounded, until nothing can change any more: every tracked engagement recorded by
   * the emulator or rejected with a reason (but `lost` of them), the outbox of every page still
   * open empty with nothing in flight, and the proxy idle (every one of `proxies` still running,
   * when given). Then a quiet second for stragglers.
   */
  async settle(
    pages: Page[],
    { lost = 0, timeoutMs = 60_000, proxies }: { lost?: number; timeoutMs?: number; proxies?: ProxyProcess[] } = {},
  ): Promise<void> {
    await expect
      .poll(
        async () => {
          const counts = this.counts()
          if (counts.delivered + counts.rejected < counts.tracked - lost)
            return `waiting: ${JSON.stringify({ ...counts, lostIds: counts.lostIds.slice(0, 3) })}`
          for (const page of pages) {
            if (page.isClosed()) continue
            const stats = await this.stats(page)
            if (stats.queued > 0 || stats.inFlight > 0) return `outbox not empty: ${JSON.stringify(stats)}`
          }
          for (const replica of proxies?.filter((each) => each.running) ?? [this.proxy]) {
            const proxy = await replica.stats()
            if (proxy.backlog > 0 || proxy.inFlight > 0 || proxy.openSubmits > 0) return `${replica.name} busy: ${JSON.stringify(proxy)}`
          }
          return 'settled'
        },
        { timeout: timeoutMs, intervals: [100, 250, 500] },
      )
      .toBe('settled')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }

  /**
   * Counts at the emulator, writes this scenario's row, and holds it to the expectation: zero
   * lost, zero duplicated, nothing foreign, only the refusable rejected; or a bounded, reported
   * loss; or, for a control, the duplicates it exists to show.
   */
  conclude(expectation: Expectation = {}): Row {
    const counts = this.counts()
    const inFlight = expectation.kills ? duplicatesInFlightAtKills(this.emulator, expectation.kills) : 0
    const verdict = this.verdict(counts, expectation, inFlight)
    const apart = expectation.kills && `${inFlight} duplicated inside an upstream request at the kill`
    this.row = this.toRow(counts, verdict, [apart, expectation.note].filter(Boolean).join('; ') || undefined)
    const detail = JSON.stringify({
      ...counts,
      lostIds: counts.lostIds.slice(0, 5),
      pageErrors: this.pageErrors,
      errors: this.ledger.errors,
    })
    expect(verdict, detail).not.toBe('FAIL')
    return this.row
  }

  private verdict(counts: Counts, expectation: Expectation, inFlight: number): string {
    const rejectedRight = counts.rejected === this.ledger.expectRejected.size && counts.wrongfulRejections === 0
    const clean = counts.foreign === 0 && rejectedRight && this.pageErrors.length === 0
    if (expectation.control === 'duplicates') return clean && counts.lost === 0 && counts.duplicated > 0 ? 'DETECTED (control)' : 'FAIL'
    const atMostARequestPerKill = inFlight <= LIMITS.batchSize * (expectation.kills?.length ?? 0)
    if (!clean || counts.duplicated > inFlight || !atMostARequestPerKill) return 'FAIL'
    if (counts.lost === 0) return inFlight > 0 ? `PASS (${inFlight} in flight at the kill)` : 'PASS'
    const told = this.ledger.errors.some((error) => error.code === 'storage')
    return expectation.bounded !== undefined && counts.lost <= expectation.bounded && told ? 'PASS (bounded, reported)' : 'FAIL'
  }

  private toRow(counts: Counts, verdict: string, note: string | undefined): Row {
    const { tracked, delivered, duplicated, rejected, lost } = counts
    return { scenario: this.testInfo.title, tracked, delivered, duplicated, rejected, lost, verdict, ...(note ? { note } : {}) }
  }

  /** Stops everything, then checks the whole capture for the key. Throws on a leak. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.proxies.map((proxy) => proxy.stop()), this.gate?.stop(), this.site?.stop(), this.emulator?.close()])
    rmSync(this.folder, { recursive: true, force: true })
    if (!this.row && this.emulator) this.row = this.toRow(this.counts(), 'FAIL', 'did not conclude')
    if (this.row) await this.testInfo.attach('reliability-row', { body: JSON.stringify(this.row), contentType: 'application/json' })
    const leaks = this.capture.find(this.key)
    await this.testInfo.attach('reliability-key-check', {
      body: JSON.stringify({ bytes: this.capture.bytes, sources: this.capture.sourceNames, leaks: leaks.length }),
      contentType: 'application/json',
    })
    expect(leaks, 'the API key showed in what the processes printed or answered').toEqual([])
  }
}

/**
 * Numbers in [0, 1) that spread evenly from the first one on (the golden-ratio sequence): a
 * fault with share p strikes close to p of any run of requests, so a scenario that counts the
 * strikes does not depend on a lucky or unlucky coin.
 */
function evenlySpread(): () => number {
  let value = 0
  return () => (value = (value + 0.618_033_988_749_895) % 1)
}
