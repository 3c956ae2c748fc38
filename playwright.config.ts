import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'

/**
 * Chromium: `CHROMIUM_PATH` if set, else Debian's where installed (CI), else Playwright's own
 * browser (a developer laptop after `npx playwright install chromium`).
 */
const executablePath = process.env['CHROMIUM_PATH'] ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)

export default defineConfig({
  testDir: 'e2e',
  timeout: 60_000,
  fullyParallel: true,
  ...(process.env['CI'] ? { workers: 2 } : {}),
  forbidOnly: !!process.env['CI'],
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: {
      ...(executablePath ? { executablePath } : {}),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
})
