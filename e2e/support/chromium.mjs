/** Which Chromium runs the tests and benchmarks, and with which flags: one place for both. */
import { existsSync } from 'node:fs'

/** No sandbox (CI runs as root), no GPU, and nothing that talks to the network on its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

/**
 * `CHROMIUM_PATH` if set, else Debian's where installed (CI), else undefined: Playwright's own
 * browser (a developer laptop after `npx playwright install chromium`).
 */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)
}
