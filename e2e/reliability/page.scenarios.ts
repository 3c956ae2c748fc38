/**
 * The page's less obvious states: kept in the back/forward cache and brought back, hidden and
 * frozen for a long time (two hours, with another tab sending meanwhile), and running under a
 * strict Content-Security-Policy.
 */
import type { Page } from '@playwright/test'
import { eventually, expect, setVisibility, test } from './support/fixtures.js'

/** Records every `pageshow` (was it restored from the back/forward cache?) in the page itself. */
async function watchPageShows(page: Page): Promise<() => Promise<boolean[]>> {
  await page.addInitScript(() => {
    const shows: boolean[] = []
    Object.defineProperty(window, '__pageShows', { value: shows })
    addEventListener('pageshow', (event) => shows.push(event.persisted))
  })
  return () => page.evaluate(() => [...(window as unknown as { __pageShows: boolean[] }).__pageShows])
}

function navigationType(page: Page): Promise<string | undefined> {
  return page
    .evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.type)
    .catch(() => undefined)
}

/** Dispatches the event a browser sends a page it freezes or thaws. */
function lifecycle(page: Page, type: 'freeze' | 'resume'): Promise<void> {
  return page.evaluate((name) => void document.dispatchEvent(new Event(name)), type)
}

/** Why Chromium did not restore the page from the back/forward cache, as the page can read it. */
function notRestoredReasons(page: Page): Promise<unknown> {
  return page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation') as (PerformanceNavigationTiming & { notRestoredReasons?: unknown })[]
    return JSON.parse(JSON.stringify(navigation?.notRestoredReasons ?? null))
  })
}

for (const [when, prepare] of [
  ['idle', async () => {}],
  ['with engagements unsent (the proxy is down)', async (stack: import('./support/stack.js').Stack) => stack.gate.refuse()],
  ['with a request in flight (its answer lost)', async (stack: import('./support/stack.js').Stack) => stack.gate.hold()],
] as const) {
  test(`back/forward cache, ${when}: the page is restored and delivers`, async ({ stack, page }) => {
    const shows = await watchPageShows(page)
    await stack.open(page)
    await stack.track(page, 50, { name: 'Before leaving' })
    await prepare(stack)
    await stack.track(page, 30, { name: 'Just before leaving' })
    await page.goto(`${stack.site.origin}/other.html`)
    stack.gate.release()
    await page.goBack({ waitUntil: 'commit' })
    // Restored: the same document hears a second pageshow. Loaded again: a new document whose
    // navigation is a back/forward one.
    const arrived = async () => {
      const seen = await shows().catch(() => [])
      return seen.length >= 2 || (seen.length === 1 && (await navigationType(page)) === 'back_forward')
    }
    await eventually(arrived, 'the page after going back')
    const restored = (await shows()).at(-1) === true
    expect(restored, `not restored from the back/forward cache: ${JSON.stringify(await notRestoredReasons(page))}`).toBe(true)
    expect(await page.evaluate(() => window.conversion?.loaded)).toBe(true)
    await stack.track(page, 30, { name: 'After coming back' })
    await stack.settle([page])
    stack.conclude({ note: 'restored from the back/forward cache (pageshow.persisted)' })
  })
}

test('hidden for a long time: frozen, two hours later, another tab sending meanwhile', async ({ stack, context, page }) => {
  await page.clock.install()
  await stack.open(page)
  await stack.track(page, 40, { name: 'Visible' })
  await setVisibility(page, 'hidden')
  await stack.track(page, 40, { name: 'Hidden' })
  // Headless Chromium does not freeze pages (CDP's Page.setWebLifecycleState changes nothing
  // there), so the page hears the events a browser sends a tab it freezes and thaws.
  await lifecycle(page, 'freeze')

  // The frozen tab gave up sending: another one takes over.
  const other = await stack.open(await context.newPage(), {}, 'jane@example.com')
  await eventually(async () => (await stack.stats(other)).leader, 'the other tab leads')
  await stack.track(other, 40, { name: 'Other tab' })

  await page.clock.fastForward('02:00:00')
  await lifecycle(page, 'resume')
  await setVisibility(page, 'visible')
  await stack.track(page, 40, { name: 'Two hours later' })
  await other.close()
  await eventually(async () => (await stack.stats(page)).leader, 'the first tab leads again')
  await stack.track(page, 20, { name: 'Leading again' })
  await stack.settle([page])
  stack.conclude({ note: 'hidden, frozen (freeze/resume events), the clock moved two hours on' })
})

test("strict Content-Security-Policy (script-src 'self', no inline code): no violation, and it delivers", async ({ stack, page }) => {
  stack.site.pageHeaders = {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      `connect-src ${stack.gate.origin}`,
      "require-trusted-types-for 'script'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  }
  await page.addInitScript(() => {
    const violations: string[] = []
    Object.defineProperty(window, '__violations', { value: violations })
    document.addEventListener('securitypolicyviolation', (event) => violations.push(`${event.violatedDirective} ${event.blockedURI}`))
  })
  const consoleMessages: string[] = []
  page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`))

  await page.goto(`${stack.site.origin}/csp.html`)
  await page.waitForFunction(() => (window as unknown as { appTracked?: string[] }).appTracked?.length === 20)
  stack.book(await page.evaluate(() => (window as unknown as { appTracked: string[] }).appTracked), 'From the app script')
  await stack.track(page, 30, { name: 'Later' })
  await page.evaluate(() => window.conversion!('flush'))
  // The page-hide path too: sendBeacon is governed by connect-src.
  stack.gate.refuse()
  await stack.track(page, 10, { name: 'Beaconed' })
  stack.gate.release()
  await setVisibility(page, 'hidden')
  await setVisibility(page, 'visible')
  await stack.settle([page])
  stack.conclude({ note: 'no securitypolicyviolation event, no CSP message in the console' })
  expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual([])
  expect(consoleMessages.filter((message) => /Content.Security.Policy|Refused to|Trusted Type/i.test(message))).toEqual([])
  expect(page.url()).toBe(`${stack.site.origin}/csp.html`)
})
