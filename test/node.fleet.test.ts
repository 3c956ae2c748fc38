/**
 * Node proxy replicas as a fleet: two serveProxy processes' worth of servers sharing a real
 * redis-server, over real sockets, in front of the emulator. One id sent to both is delivered
 * once; load from both stays within Conversion's 10 requests in any second (and without Redis
 * it does not: the control); Redis away means 503 with Retry-After and not ready, and back means
 * served again; a replica that stops gives back what it claimed and never sent.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { nodeStack, postIds } from './helpers/node-stack.js'
import { recordingLogger } from './helpers/proxy.js'
import { exampleModule } from './helpers/readme.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { until } from './helpers/until.js'

let redis: RedisServer
let keySeed = 0
const stacks: ReturnType<typeof nodeStack>[] = []

beforeAll(async () => {
  redis = await startRedis()
})
afterAll(() => redis.stop())
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

/** A stack with a key of its own, so that tests never meet in Redis. */
function freshStack() {
  const apiKey = `sk_test_fleet_${Date.now()}_${++keySeed}`
  const stack = nodeStack(apiKey)
  stacks.push(stack)
  return { apiKey, stack }
}

const ready = async (proxy: RunningProxy) => (await fetch(`${proxy.origin}/readyz`)).status === 200
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`)

/** Sends `batch` until it is answered 200, as the tracker does (honouring Retry-After), within `timeoutMs`. */
async function deliver(proxy: RunningProxy, batch: string[], timeoutMs = 25_000): Promise<{ accepted: number; duplicates: number }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response = await postIds(proxy, batch)
    if (response.status === 200) return (await response.json()) as { accepted: number; duplicates: number }
    if (Date.now() > deadline) throw new Error(`still ${response.status} after ${timeoutMs} ms`)
    const seconds = Number(response.headers.get('retry-after') ?? '1')
    await response.body?.cancel()
    await new Promise((resolve) => setTimeout(resolve, Math.min(seconds, 1) * 1_000))
  }
}

describe('a fleet sharing Redis', () => {
  it('delivers an id sent to both replicas at once exactly once', async () => {
    const { stack } = freshStack()
    const emulator = await stack.emulator({ faults: { latencyMs: 200 } })
    const a = await stack.proxy(emulator, { redisUrl: redis.url })
    const b = await stack.proxy(emulator, { redisUrl: redis.url })
    await until(async () => (await ready(a)) && (await ready(b)))
    const batch = ids('both', 50)
    const [first, second] = await Promise.all([deliver(a, batch), deliver(b, batch)])
    expect(first.accepted + second.accepted).toBe(50)
    expect(first.duplicates + second.duplicates).toBe(50)
    expect(emulator.ids().sort()).toEqual([...batch].sort())
    expect(emulator.duplicates()).toEqual([])
  })

  it('holds 10 request starts in any second under load from both replicas, where replicas pacing alone break it', {
    timeout: 60_000,
  }, async () => {
    /** 3,000 engagements through each replica, in requests of 200, all at once. */
    const load = async (redisUrl: string | undefined) => {
      const { stack } = freshStack()
      const emulator = await stack.emulator()
      const options = redisUrl === undefined ? {} : { redisUrl }
      const replicas = [await stack.proxy(emulator, options), await stack.proxy(emulator, options)]
      await until(async () => (await Promise.all(replicas.map(ready))).every(Boolean))
      await Promise.all(
        replicas.flatMap((replica, r) => Array.from({ length: 15 }, (_, k) => deliver(replica, ids(`load-${r}-${k}`, 200)))),
      )
      expect(emulator.ids()).toHaveLength(6_000)
      expect(emulator.duplicates()).toEqual([])
      return emulator.maxStartsInAnyWindow()
    }
    expect(await load(redis.url)).toBeLessThanOrEqual(10)
    // The control: the same load through replicas that each pace alone.
    expect(await load(undefined)).toBeGreaterThan(10)
  })

  it('answers 503 with Retry-After and is not ready while Redis is down, and serves again once it is back', {
    timeout: 40_000,
  }, async () => {
    const { apiKey, stack } = freshStack()
    const emulator = await stack.emulator()
    const { logger, logs } = recordingLogger()
    const proxy = await stack.proxy(emulator, { redisUrl: redis.url, logger })
    await until(() => ready(proxy))
    expect((await deliver(proxy, ['before-1'])).accepted).toBe(1)

    await redis.stop()
    try {
      await until(async () => !(await ready(proxy)))
      const readiness = await fetch(`${proxy.origin}/readyz`)
      expect(readiness.status).toBe(503)
      expect(await readiness.json()).toEqual({ status: 'unavailable', reason: 'Redis is unreachable' })
      const refused = await postIds(proxy, ['during-1'])
      expect(refused.status).toBe(503)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    } finally {
      await redis.start()
    }

    await until(() => ready(proxy), 15_000)
    expect(await deliver(proxy, ['during-1', 'after-1'])).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    expect(emulator.ids().sort()).toEqual(['after-1', 'before-1', 'during-1'])
    expect(logs.join('\n')).not.toContain(apiKey)
  })

  it('gives back, when a replica stops, the claims of engagements it never sent: another replica delivers them at once', {
    timeout: 30_000,
  }, async () => {
    const { stack } = freshStack()
    // One start per second for the fleet, and a slow Conversion: b's request holds the only slot.
    const emulator = await stack.emulator({ faults: { latencyMs: 2_000 } })
    const a = await stack.proxy(emulator, { redisUrl: redis.url, maxRequestsPerSecond: 1, settleTimeout: 1_000 })
    const b = await stack.proxy(emulator, { redisUrl: redis.url, maxRequestsPerSecond: 1 })
    await until(async () => (await ready(a)) && (await ready(b)))
    const held = postIds(b, ['slot-holder'])
    await until(() => emulator.requests().some((request) => request.status === null))
    // a claims these in Redis, then waits for the slot, past its settle timeout.
    const waiting = await postIds(a, ['claimed-1', 'claimed-2'])
    expect(waiting.status).toBe(503)
    await a.shutdown()
    // Released: b takes them as new at once, instead of waiting out a's 30 s lease.
    const startedAt = Date.now()
    expect(await (await postIds(b, ['claimed-1', 'claimed-2'])).json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    expect(Date.now() - startedAt).toBeLessThan(8_000)
    expect((await held).status).toBe(200)
    expect(emulator.ids().sort()).toEqual(['claimed-1', 'claimed-2', 'slot-holder'])
  })
})

describe("the README's fleet example", () => {
  it('runs as shown: the server and the route handler share one Redis, so an id sent to both is delivered once', async () => {
    const { apiKey, stack } = freshStack()
    const emulator = await stack.emulator()
    process.env.CONVERSION_API_KEY = apiKey
    process.env.REDIS_URL = redis.url
    process.env.CONVERSION_API_URL = emulator.url
    const module = (await import(
      exampleModule('fleet', [
        [
          "const allowedOrigins = ['https://app.example.com']",
          "const allowedOrigins = ['https://app.example.com'], upstreamUrl = process.env.CONVERSION_API_URL!",
        ],
        ['{ port: 8787, apiKey, allowedOrigins,', '{ port: 0, apiKey, allowedOrigins, upstreamUrl,'],
        ['const redis =', 'export const redis ='],
        ['const proxy = createProxy({ apiKey, allowedOrigins,', 'export const proxy = createProxy({ apiKey, allowedOrigins, upstreamUrl,'],
      ])
    )) as {
      server: RunningProxy
      redis: { readonly reachable: boolean; close(): Promise<void> }
      proxy: { close(): void }
      POST: (request: Request) => Promise<Response>
    }
    try {
      await until(async () => (await ready(module.server)) && module.redis.reachable)
      const body = JSON.stringify({
        batch: [{ id: 'readme-fleet-1', contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' }],
      })
      const headers = { origin: 'https://app.example.com', 'content-type': 'application/json' }
      const answers = await Promise.all([
        fetch(module.server.url, { method: 'POST', headers, body }).then((response) => response.json()),
        module
          .POST(new Request('https://app.example.com/api/relay', { method: 'POST', headers, body }))
          .then((response) => response.json()),
      ])
      expect(answers).toContainEqual({ accepted: 1, duplicates: 0, rejected: [] })
      expect(answers).toContainEqual({ accepted: 0, duplicates: 1, rejected: [] })
      expect(emulator.ids()).toEqual(['readme-fleet-1'])
    } finally {
      module.proxy.close()
      await module.redis.close()
      await module.server.close()
    }
  })
})
