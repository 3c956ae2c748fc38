/**
 * Stopping the `conversion-engagements proxy` command twice: the first SIGTERM begins the graceful
 * stop, which waits for an upstream request that Conversion does not answer; a second signal
 * must stop it at once, with exit code 1 (not wait for the graceful stop and exit 0).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js'
import { buildCli, cli, stopClis, until } from './helpers/cli-process.js'
import { APP, engagement } from './helpers/node-stack.js'

const KEY = 'sk_test_fake_cli_stop_0123456789abcdefXYZ'
/**
 * Longer than any stop at once can take, and well below what the graceful stop would wait here
 * (the default upstream timeout, 10 s, counted from the request's start).
 */
const AT_ONCE_DEADLINE_MS = 7_000

let emulator: RunningEmulator

beforeAll(async () => {
  await buildCli()
  emulator = await startEmulator({ apiKey: KEY })
}, 30_000)
afterAll(async () => {
  await emulator?.close()
})
afterEach(() => {
  emulator.reset()
  stopClis()
})

/** Resolves with the exit code, or `'still running'` once `ms` have passed. */
const exitWithin = (exited: Promise<number | null>, ms: number) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)))
  return Promise.race([exited, late]).finally(() => clearTimeout(timer))
}

describe('the proxy command, stopped twice', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops at once on a second ${signal} during a graceful stop, and exits 1`, { timeout: 30_000 }, async () => {
      const run = cli(['proxy'], { CONVERSION_API_KEY: KEY, ALLOWED_ORIGINS: APP, CONVERSION_API_URL: emulator.url, PORT: '0' })
      const url = (await run.printed(/listening on (http:\/\/127\.0\.0\.1:\d+\/api\/relay)\n/))[1] as string
      // Conversion takes the request and does not answer before the proxy's upstream timeout.
      emulator.setFaults({ latencyMs: 60_000 })
      const body = JSON.stringify({ batch: [engagement(`${signal}-1`)] })
      const inFlight = fetch(url, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body }).then(
        (response) => response.status,
        () => 'cut off',
      )
      await until(() => emulator.requests().some((request) => request.status === null))

      process.kill(run.child.pid as number, signal)
      await run.printed(new RegExp(`${signal}: stopping`))
      process.kill(run.child.pid as number, signal)

      expect(await exitWithin(run.exited, AT_ONCE_DEADLINE_MS)).toBe(1)
      expect(run.output.stderr).toContain(`${signal} again: stopping at once`)
      expect(run.output.stdout).not.toMatch(/proxy: stopped/)
      // The client's request was cut off, or answered 503 by the Coalescer's close: never 200.
      expect(await inFlight).not.toBe(200)
      expect(run.output.stdout + run.output.stderr).not.toContain(KEY)
    })
  }
})
