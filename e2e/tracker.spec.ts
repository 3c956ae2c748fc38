import type { Page } from '@playwright/test'
import { busiestWindow, eventually, expect, recordRequestStarts, setVisibility, test, trackMany, watchConsole } from './support/fixtures.js'
import type { ContractServer } from './support/server.js'

/** Opens the script-tag page with tracker options, and waits for the bundle. */
async function openScriptTag(page: Page, server: ContractServer, options: object = {}): Promise<void> {
  await page.goto(`${server.url}/e2e/pages/script-tag.html?options=${encodeURIComponent(JSON.stringify(options))}`)
  await page.waitForFunction(() => window.conversion?.loaded === true)
}

function sorted(ids: string[]): string[] {
  return [...ids].sort()
}

test('500 engagements arrive exactly once, in requests of at most 200', async ({ page, server }) => {
  const problems = watchConsole(page)
  await openScriptTag(page, server)
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 500)
  await eventually(() => server.accepted.length === 500, '500 accepted')
  expect(sorted(server.accepted)).toEqual(sorted(ids))
  expect(server.duplicates).toEqual([])
  for (const arrival of server.arrivals) expect(arrival.ids.length).toBeLessThanOrEqual(200)
  expect(server.arrivals[0]!.batch[0]).toMatchObject({ contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY' })
  expect(problems).toEqual([])
})

test('never more than 10 request starts in any sliding second', async ({ page, server }) => {
  const startsOf = await recordRequestStarts(page)
  await openScriptTag(page, server, { maxBatchSize: 10 })
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 500)
  await eventually(() => server.accepted.length === 500, '500 accepted', 30_000)
  expect(sorted(server.accepted)).toEqual(sorted(ids))
  expect(server.arrivals).toHaveLength(50)
  const starts = await startsOf()
  expect(starts).toHaveLength(50)
  expect(busiestWindow(starts)).toBeLessThanOrEqual(10)
  // Paced, not stalled: 50 requests at 10 per second take about four seconds after the first ten.
  const span = starts.at(-1)! - starts[0]!
  expect(span).toBeGreaterThan(3900)
  expect(span).toBeLessThan(9000)
})

test('a reload with unsent engagements delivers them, once', async ({ page, server }) => {
  server.failAll = { status: 503 }
  await openScriptTag(page, server)
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 30)
  await eventually(() => server.arrivals.length > 0, 'a first attempt')
  expect(server.accepted).toEqual([])

  await page.reload()
  server.failAll = undefined
  await page.waitForFunction(() => window.conversion?.loaded === true)
  await eventually(() => server.accepted.length === 30, '30 accepted after the reload')
  expect(sorted(server.accepted)).toEqual(sorted(ids))
})

test('offline, then online: what was tracked meanwhile is delivered', async ({ page, context, server }) => {
  await openScriptTag(page, server, { flushAt: 5 })
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  await context.setOffline(true)
  const ids = await trackMany(page, 20)
  await page.waitForTimeout(1500)
  expect(server.arrivals).toEqual([])
  const stats = await page.evaluate(() => window.conversion!('stats'))
  expect(stats).toMatchObject({ online: false, queued: 20 })

  await context.setOffline(false)
  await eventually(() => server.accepted.length === 20, '20 accepted once online')
  expect(sorted(server.accepted)).toEqual(sorted(ids))
})

test('hiding the page hands unsent engagements to a beacon', async ({ page, server }) => {
  await openScriptTag(page, server, { flushAt: 1000, flushInterval: 600_000 })
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 40)
  await page.waitForTimeout(300)
  expect(server.arrivals).toEqual([])

  await setVisibility(page, 'hidden')
  await eventually(() => server.accepted.length === 40, '40 accepted by beacon')
  expect(server.arrivals.every((arrival) => arrival.transport === 'beacon')).toBe(true)
  expect(sorted(server.accepted)).toEqual(sorted(ids))
})

test('leaving the page hands unsent engagements to a beacon', async ({ page, server }) => {
  await openScriptTag(page, server, { flushAt: 1000, flushInterval: 600_000 })
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 25)
  await page.waitForTimeout(300)
  await page.goto('about:blank')
  await eventually(() => server.accepted.length === 25, '25 accepted by beacon')
  expect(server.arrivals.every((arrival) => arrival.transport === 'beacon')).toBe(true)
  expect(sorted(server.accepted)).toEqual(sorted(ids))
})

test('two tabs send through one leader, without duplicates', async ({ context, server }) => {
  const first = await context.newPage()
  const second = await context.newPage()
  const starts = [await recordRequestStarts(first), await recordRequestStarts(second)]
  await openScriptTag(first, server, { flushAt: 10 })
  await openScriptTag(second, server, { flushAt: 10 })
  await first.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const leaders = await Promise.all([first, second].map((tab) => tab.evaluate(async () => (await window.conversion!('stats'))!.leader)))
  expect(leaders.filter(Boolean)).toHaveLength(1)

  const ids = [...(await trackMany(first, 60, 'first')), ...(await trackMany(second, 60, 'second'))]
  await second.evaluate(() => window.conversion!('flush'))
  await eventually(() => server.accepted.length === 120, '120 accepted')
  expect(sorted(server.accepted)).toEqual(sorted(ids))
  expect(server.duplicates).toEqual([])
  const all = (await Promise.all(starts.map((of) => of()))).flat().sort((a, b) => a - b)
  expect(all.length).toBeGreaterThan(0)
  expect(busiestWindow(all)).toBeLessThanOrEqual(10)
})

test('calls made before the bundle loaded are delivered, with the time they were made', async ({ page, server }) => {
  server.bundleDelayMs = 1500
  await page.goto(`${server.url}/e2e/pages/script-tag.html`, { waitUntil: 'domcontentloaded' })
  const calledAt = await page.evaluate(() => {
    window.conversion!('identify', 'early@example.com')
    window.conversion!('track', { type: 'PRODUCT_ACTIVITY', name: 'Signed up' })
    return Date.now()
  })
  expect(await page.evaluate(() => window.conversion?.loaded)).toBeUndefined()
  await page.waitForFunction(() => window.conversion?.loaded === true)
  await page.evaluate(() => window.conversion!('flush'))
  await eventually(() => server.accepted.length === 1, 'the early engagement')
  const [engagement] = server.arrivals[0]!.batch
  expect(engagement).toMatchObject({ name: 'Signed up', contactEmail: 'early@example.com' })
  const createdAt = Date.parse(String(engagement!.createdAt))
  expect(Math.abs(createdAt - calledAt)).toBeLessThan(200)
  expect(server.arrivals[0]!.at - createdAt).toBeGreaterThan(1000)
})

test('an invalid call is refused with a clear error; the rest still arrive', async ({ page, server }) => {
  const problems = watchConsole(page)
  await openScriptTag(page, server)
  const results = await page.evaluate(() => {
    const errors: unknown[] = []
    window.conversion!('subscribe', (event: { type: string; error?: unknown }) => {
      if (event.type === 'error') errors.push(event.error)
    })
    window.conversion!('identify', 'john@example.com')
    const good = window.conversion!('track', { type: 'PRODUCT_ACTIVITY', name: 'Good' })
    // A Date is not a JSON value: the types refuse it too, but scripts are not typed.
    const bad = window.conversion!('track', { type: 'PRODUCT_ACTIVITY', data: { when: new Date() } as never })
    const worse = window.conversion!('track', { type: '' })
    window.conversion!('flush')
    return { good, bad, worse, errors }
  })
  expect(results.bad).toEqual({
    ok: false,
    error: { code: 'invalid', field: 'data.when', rule: 'json', message: 'data.when must be a JSON value, not a Date' },
  })
  expect(results.worse).toMatchObject({ ok: false, error: { field: 'type', rule: 'min', message: 'type must not be empty' } })
  expect(results.errors).toHaveLength(2)
  await eventually(() => server.accepted.length === 1, 'the valid engagement')
  expect(server.accepted).toEqual([(results.good as { id: string }).id])
  expect(problems).toEqual([])
})

test('an invalid option is reported in the console, naming it, and its default is used', async ({ page, server }) => {
  const problems = watchConsole(page)
  const warnings: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'warning') warnings.push(message.text())
  })
  // flushAt 0 clamped would send each engagement at once; its default, 20, waits for 20.
  await openScriptTag(page, server, { flushAt: 0, flushInterval: 600_000, maxBatchSize: 500 })
  await page.evaluate(() => window.conversion!('identify', 'john@example.com'))
  const ids = await trackMany(page, 5)
  await page.waitForTimeout(500)
  expect(server.arrivals).toEqual([])
  ids.push(...(await trackMany(page, 15, 'more')))
  await eventually(() => server.accepted.length === 20, 'the 20 accepted once flushAt is reached')
  expect(server.arrivals.map((arrival) => arrival.ids.length)).toEqual([20])
  expect(sorted(server.accepted)).toEqual(sorted(ids))
  expect(warnings).toEqual([
    '[conversion-engagements] option flushAt must be a whole number from 1 to Infinity, not 0: the default is used',
    '[conversion-engagements] option maxBatchSize must be a whole number from 1 to 200, not 500: the default is used',
  ])
  expect(problems).toEqual([])
})

test('data-endpoint configures the tracker, and loading the bundle twice is harmless', async ({ page, server }) => {
  server.pages.set(
    '/twice.html',
    `<!doctype html><html><head><meta charset="utf-8"><title>twice</title>
    <script async src="/dist/conversion-engagements.min.js" data-endpoint="/engagements"></script>
    <script async src="/dist/conversion-engagements.min.js?again" data-endpoint="/engagements"></script>
    </head><body></body></html>`,
  )
  const problems = watchConsole(page)
  await page.goto(`${server.url}/twice.html`)
  await page.waitForFunction(() => window.conversion?.loaded === true)
  await page.evaluate(() => {
    window.conversion!('identify', 'john@example.com')
    window.conversion!('track', { type: 'PRODUCT_ACTIVITY', name: 'Once' })
    return window.conversion!('flush')
  })
  await eventually(() => server.accepted.length === 1, 'one engagement')
  await page.waitForTimeout(500)
  expect(server.arrivals).toHaveLength(1)
  expect(problems).toEqual([])
})

test('the ES module build works in the browser', async ({ page, server }) => {
  const problems = watchConsole(page)
  await page.goto(`${server.url}/e2e/pages/esm.html`)
  await page.waitForFunction(() => 'tracker' in window)
  const id = await page.evaluate(async () => {
    const tracker = (window as unknown as { tracker: import('../src/index.js').Tracker }).tracker
    tracker.identify('esm@example.com', { signature: 'c'.repeat(64) })
    const result = tracker.track({ type: 'PRODUCT_ACTIVITY', name: 'From ESM', createdAt: new Date('2025-08-12T09:21:45Z') })
    await tracker.flush()
    return result.ok ? result.id : undefined
  })
  await eventually(() => server.accepted.length === 1, 'the ESM engagement')
  expect(server.accepted).toEqual([id])
  expect(server.arrivals[0]!.identity).toEqual({ 'esm@example.com': 'c'.repeat(64) })
  expect(server.arrivals[0]!.batch[0]).toMatchObject({ createdAt: '2025-08-12T09:21:45.000Z' })
  expect(problems).toEqual([])
})
