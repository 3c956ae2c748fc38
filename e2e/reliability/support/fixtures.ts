import { test as base, expect, type CDPSession, type Page } from '@playwright/test'
import { Stack } from './stack.js'
import type { ProxyProcessOptions } from './proxy.js'

/**
 * `stack`: the whole system for one scenario (see Stack), started before the test and stopped
 * after it, whatever happened, with the key check last. `proxyOptions` configures its first
 * proxy process (`test.use({ proxyOptions: ... })`), `proxyArgs` the Node flags it runs with
 * (`test.use({ proxyArgs: ['--max-old-space-size=256'] })`).
 */
export const test = base.extend<{ stack: Stack; proxyOptions: ProxyProcessOptions; proxyArgs: string[] }>({
  proxyOptions: [{}, { option: true }],
  proxyArgs: [[], { option: true }],
  stack: async ({ context, proxyOptions, proxyArgs }, use, testInfo) => {
    const stack = new Stack(testInfo)
    try {
      await stack.start(context, proxyOptions, proxyArgs)
      await use(stack)
    } finally {
      await stack.stop()
    }
  },
})

export { expect }
export { eventually, setVisibility, watchConsole } from '../../support/fixtures.js'

/** Kills the page's renderer process, as a crash does: no pagehide, no beacon, nothing more runs. */
export async function crash(page: Page): Promise<void> {
  const session: CDPSession = await page.context().newCDPSession(page)
  const crashed = page.waitForEvent('crash', { timeout: 10_000 })
  // Never answers: the renderer that would answer is gone.
  session.send('Page.crash').catch(() => undefined)
  await crashed
  await page.close().catch(() => undefined)
}
