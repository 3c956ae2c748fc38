import { defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS, chromiumPath } from './e2e/support/chromium.mjs'

/**
 * The reliability suite (`npm run test:reliability`): the BUILT tracker in Chromium, the BUILT
 * proxy as a child process, the emulator with faults; it proves, scenario by scenario, that
 * nothing is lost or counted twice and that no one gets in, and prints the table of what it
 * proved (`npm run test:reliability` builds first). Scenario files end in `.scenarios.ts`, so the main e2e run
 * (`playwright.config.ts`, same folder tree) does not pick them up.
 *
 * The back/forward cache stays ON (Playwright turns it off by default): real browsers have it,
 * and one scenario checks that the tracker does not keep pages out of it.
 */
const executablePath = chromiumPath()

export default defineConfig({
  testDir: 'e2e/reliability',
  testMatch: '**/*.scenarios.ts',
  timeout: 120_000,
  // Timing matters to several scenarios (requests in flight when a page dies): one at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  outputDir: 'test-results/reliability',
  reporter: [['list'], ['./e2e/reliability/reporter.ts']],
  use: {
    browserName: 'chromium',
    launchOptions: {
      ...(executablePath ? { executablePath } : {}),
      ignoreDefaultArgs: ['--disable-back-forward-cache'],
      args: CHROMIUM_ARGS,
    },
  },
})
