import { test as base, expect, type Page, type Request } from '@playwright/test'
import { ContractServer } from './server.js'

/** Each test gets its own server, hence its own origin: storage never leaks between tests. */
export const test = base.extend<{ server: ContractServer }>({
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
export async function eventually(check: () => boolean, message: string, timeoutMs = 20_000): Promise<void> {
  await expect.poll(check, { message, timeout: timeoutMs, intervals: [50, 100, 250] }).toBe(true)
}

/**
 * Records when the browser itself started each request to the engagements endpoint (Chromium's
 * network timing, fetches and beacons alike). The server's arrival times are no substitute: a
 * first request that opens a connection, or a busy test process, delays some arrivals and so
 * squeezes later ones closer together than they were sent.
 */
export function recordRequestStarts(page: Page): () => number[] {
  const requests: Request[] = []
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/engagements') requests.push(request)
  })
  return () => requests.map((request) => request.timing().startTime).sort((a, b) => a - b)
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
