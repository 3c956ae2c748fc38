import { afterEach, describe, expect, it } from 'vitest'
import type { RunningEmulator } from '../src/emulator/index.js'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'
import { recordingLogger } from './helpers/proxy.js'

const KEY = 'sk_test_fake_node_test_0123456789abcdefghijkl'

const stack = nodeStack(KEY)
afterEach(stack.close)

async function start(
  options: { settleTimeout?: number; retryBaseDelay?: number; retryMaxDelay?: number } = {},
  random?: () => number,
): Promise<{ emulator: RunningEmulator; proxy: RunningProxy; logs: string[] }> {
  const emulator = await stack.emulator(random ? { random } : {})
  const { logs, logger } = recordingLogger()
  const proxy = await stack.proxy(emulator, { logger, ...options })
  return { emulator, proxy, logs }
}

/** Sends like the tracker does: again after 429/503, honouring Retry-After, a bounded number of times. */
async function sendUntilSettled(proxy: RunningProxy, ids: string[]) {
  for (let attempt = 0; attempt < 30; attempt++) {
    const response = await postIds(proxy, ids)
    const body = (await response.json()) as { accepted: number; duplicates: number; rejected: unknown[]; message?: string }
    if (response.status === 200) return body
    expect([429, 503]).toContain(response.status)
    await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 1) * 1000))
  }
  throw new Error('never settled')
}

describe('proxy on Node, with the emulator as Conversion, over real sockets', () => {
  it('turns 50 concurrent requests of mixed sizes into paced upstream batches of at most 200, each id once', async () => {
    const { emulator, proxy } = await start()
    const sizes = Array.from({ length: 50 }, (_, i) => [1, 7, 30, 120, 200][i % 5] as number)
    const requests = sizes.map((size, r) => Array.from({ length: size }, (_, i) => `r${r}-${i}`))
    const results = await Promise.all(requests.map((ids) => sendUntilSettled(proxy, ids)))

    const total = sizes.reduce((sum, size) => sum + size, 0)
    expect(results.reduce((sum, result) => sum + result.accepted, 0)).toBe(total)
    expect(emulator.ids()).toHaveLength(total)
    expect(new Set(emulator.ids()).size).toBe(total)
    expect(emulator.duplicates()).toEqual([])
    const upstream = emulator.requests()
    expect(upstream.every((request) => request.status === 200 && request.count <= 200)).toBe(true)
    // Packed: the first window sends what has come at once (low latency when there is room);
    // from then on every request leaves full. Far fewer upstream requests than client requests.
    expect(upstream.length).toBeLessThanOrEqual(Math.ceil(total / 200) + 10)
    expect(upstream.slice(10, -1).every((request) => request.count === 200)).toBe(true)
    expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)
  })

  it('answers a re-send after a lost response as duplicates, without forwarding it again', async () => {
    const { emulator, proxy } = await start()
    emulator.setFaults({ latencyMs: 400 })
    const ids = ['lost-1', 'lost-2', 'lost-3']
    // The browser gives up before the answer comes (or the connection drops): the response is lost.
    await expect(postIds(proxy, ids, AbortSignal.timeout(150))).rejects.toThrow()
    await expect.poll(() => emulator.ids().length, { timeout: 5000 }).toBe(3)
    emulator.setFaults({ latencyMs: 0 })

    const again = await sendUntilSettled(proxy, ids)
    expect(again).toEqual({ accepted: 0, duplicates: 3, rejected: [] })
    expect(emulator.ids()).toEqual(ids)
    expect(emulator.requests()).toHaveLength(1)
  })

  it('loses nothing and doubles nothing through a 429 storm and 50% of 500s', async () => {
    // Quick backoff keeps the test short; the rules are the same as with the defaults. The 50%
    // strikes every other request after the storm, not by chance: after packing, only a handful
    // of requests follow the storm, and a coin could spare them all.
    let strike = false
    const everyOther = () => ((strike = !strike) ? 0 : 0.99)
    const { emulator, proxy } = await start({ retryBaseDelay: 100, retryMaxDelay: 1000 }, everyOther)
    emulator.setFaults({ rateLimitStorm: Date.now() + 1500, errorRate: 0.5 })
    const requests = Array.from({ length: 12 }, (_, r) => Array.from({ length: 40 }, (_, i) => `storm${r}-${i}`))
    const results = await Promise.all(requests.map((ids) => sendUntilSettled(proxy, ids)))

    expect(results.reduce((sum, result) => sum + result.accepted + result.duplicates, 0)).toBe(480)
    expect(new Set(emulator.ids()).size).toBe(480)
    expect(emulator.duplicates()).toEqual([])
    const statuses = new Set(emulator.requests().map((request) => request.status))
    expect(statuses).toContain(429)
    expect(statuses).toContain(500)
    expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)
  }, 60_000)

  it('never shows the key to clients or in its logs', async () => {
    const { proxy, logs } = await start()
    const responses = await Promise.all([
      postIds(proxy, ['k-1']),
      fetch(proxy.url, { method: 'POST', headers: { origin: 'http://evil.localhost' }, body: '{}' }),
      fetch(proxy.url, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json' },
        body: `{"batch":[{"id":"${KEY}"}]}`,
      }),
      fetch(`${proxy.origin}/elsewhere`),
    ])
    for (const response of responses) {
      const text = await response.text()
      expect(text).not.toContain(KEY)
      expect([...response.headers.values()].join()).not.toContain(KEY)
    }
    expect(logs.join()).not.toContain(KEY)
  })
})
