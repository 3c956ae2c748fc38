import { test as base, expect, type Page } from '@playwright/test'
import { ContractServer } from './server.js'

/** Each test gets its own server, hence its own origin: storage never leaks between tests. */
export const test = base.extend<{ server: ContractServer }>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
  server: async ({}, use) => {
    const server = await new ContractServer().start()
    try {
      await use(server)
    } finally {
      await server.stop()
    }
  },
})

export { expect }

/** Waits, bounded, until `check` holds; the message says what was awaited. */
export async function eventually(check: () => boolean | Promise<boolean>, message: string, timeoutMs = 20_000): Promise<void> {
  await expect.poll(check, { message, timeout: timeoutMs, intervals: [50, 100, 250] }).toBe(true)
}

/** Tracks `count` engagements through `window.conversion` in one task (a burst), and returns their ids. */
export function trackMany(page: Page, count: number, prefix = 'e'): Promise<string[]> {
  return page.evaluate(
    ({ count, prefix }) => {
      const ids: string[] = []
      for (let i = 0; i < count; i++) {
        const result = window.conversion!('track', { type: 'PRODUCT_ACTIVITY', name: `${prefix} ${i}`, data: { i } })
        if (result?.ok) ids.push(result.id)
      }
      return ids
    },
    { count, prefix },
  )
}

/** Hides or shows the page the way a tab switch does: sets `visibilityState` and `hidden`, fires `visibilitychange`. */
export function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  return page.evaluate((state) => {
    Object.defineProperty(document, 'visibilityState', { value: state, configurable: true })
    Object.defineProperty(document, 'hidden', { value: state === 'hidden', configurable: true })
    document.dispatchEvent(new Event('visibilitychange'))
  }, state)
}

/**
 * Records, from inside the page, the moment each request to the engagements endpoint is handed
 * to the browser (`fetch` or `sendBeacon` called): what "a request start" means. It wraps the
 * browser's functions before any page script runs, so it observes the tracker from the outside.
 * Arrival times at the server are no substitute: a request that opens a new connection, or a
 * busy machine, delays some arrivals and squeezes later ones closer together than they were sent.
 */
export async function recordRequestStarts(page: Page): Promise<() => Promise<number[]>> {
  await page.addInitScript(() => {
    const starts: number[] = []
    Object.defineProperty(window, '__requestStarts', { value: starts })
    const isEngagements = (input: unknown) => String(input instanceof Request ? input.url : input).includes('/engagements')
    const fetch = window.fetch
    window.fetch = function (input, init) {
      if (isEngagements(input)) starts.push(performance.timeOrigin + performance.now())
      return fetch.call(this, input, init)
    }
    const sendBeacon = navigator.sendBeacon
    navigator.sendBeacon = function (url, data) {
      if (isEngagements(url)) starts.push(performance.timeOrigin + performance.now())
      return sendBeacon.call(this, url, data)
    }
  })
  return () => page.evaluate(() => [...(window as unknown as { __requestStarts: number[] }).__requestStarts])
}

/** The most of `starts` that fall within any window of `windowMs`. */
export function busiestWindow(starts: number[], windowMs = 1000): number {
  let most = 0
  for (let i = 0, j = 0; i < starts.length; i++) {
    while ((starts[i] as number) - (starts[j] as number) >= windowMs) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

/** Fails the test on any console error or uncaught exception in the page. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(String(error)))
  return problems
}
