/**
 * A host (or a test suite) that serves proxies with metrics and closes them, again and again: Node's
 * process metrics are collected once per process, and nothing of a closed server (its proxy, its
 * Coalescer, its memory) stays reachable, so the garbage collector takes it back.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { serveProxy } from '../src/adapters/node/index.js'
import { until } from './helpers/cli-process.js'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'

const KEY = 'sk_test_fake_metrics_release_0123456789abcdef'
const stack = nodeStack(KEY)
afterEach(() => stack.close())

// The collector, called from the test: a fresh context sees `gc` once the flag is set.
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

/** Serves a proxy with metrics, has it deliver and be scraped, closes it; returns a weak reference to its proxy. */
async function serveUseAndClose(emulator: Awaited<ReturnType<typeof stack.emulator>>, round: number): Promise<WeakRef<object>> {
  // Not through the stack, which holds what it started until the test ends. A short upstream
  // timeout: each request's timeout signal holds its exchange (and so the proxy) until it fires.
  const server = await serveProxy({
    apiKey: KEY,
    allowedOrigins: [APP],
    upstreamUrl: emulator.url,
    clientRateLimit: false,
    metricsPort: 0,
    upstreamTimeout: 2_000,
  })
  expect((await postIds(server, [`release-${round}-a`, `release-${round}-b`])).status).toBe(200)
  const text = await (await fetch(server.metricsUrl as string)).text()
  expect(text).toContain('conversion_engagements_engagements_total{outcome="accepted"} 2')
  // Node's process metrics are there for every server, the later ones too.
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m)
  expect(text).toMatch(/^process_cpu_user_seconds_total /m)
  const proxy = new WeakRef(server.proxy)
  await server.close()
  return proxy
}

describe('metrics of servers that are closed', () => {
  it('hold nothing of them: each closed proxy can be garbage-collected', { timeout: 30_000 }, async () => {
    const emulator = await stack.emulator()
    const proxies: WeakRef<object>[] = []
    for (let round = 0; round < 3; round++) proxies.push(await serveUseAndClose(emulator, round))
    await until(() => {
      collectGarbage()
      return proxies.every((proxy) => proxy.deref() === undefined)
    }, 15_000)
  })
})
