/** Chromium for the benchmark, found and launched the way `playwright.config.ts` does it for the tests. */
import { chromium } from '@playwright/test'
import { CHROMIUM_ARGS, chromiumPath } from '../../e2e/support/chromium.mjs'

/** Launches headless Chromium, or throws an error that says how to get one. */
export async function launchChromium() {
  const executablePath = chromiumPath()
  try {
    return await chromium.launch({ ...(executablePath ? { executablePath } : {}), args: CHROMIUM_ARGS })
  } catch (error) {
    const hint =
      'Chromium is needed: install it (Debian/Ubuntu: `apt-get install chromium`), or `npx playwright install chromium`, ' +
      'or point CHROMIUM_PATH at a Chromium binary.'
    throw new Error(`${hint}\n${error instanceof Error ? error.message.split('\n')[0] : String(error)}`)
  }
}
