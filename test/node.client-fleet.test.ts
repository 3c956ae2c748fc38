/**
 * A backend client and two proxy replicas sharing one real redis-server, over real sockets, in
 * front of the emulator: under load from all three, Conversion never sees more than 10 request
 * starts in any sliding second, and an engagement sent by the client and by a page through a
 * replica (same id, same content, same createdAt) is delivered once. The control gives the
 * client no Redis, and Conversion sees both breaches.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client, type TrackResult } from '../src/adapters/node/server-client.js'
import type { RunningProxy } from '../src/adapters/node/index.js'
import type { RunningEmulator } from '../src/emulator/index.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { until } from './helpers/until.js'

const LIMIT = 10
/** Engagements both the client and the page send. */
const SHARED = 200
/** Requests of 200 each replica receives, and engagements the client sends (25 requests' worth). */
const REPLICA_REQUESTS = 12
const CLIENT_ENGAGEMENTS = 5_000

let redis: RedisServer
let keySeed = 0
const stacks: ReturnType<typeof nodeStack>[] = []
const clients: Client[] = []

beforeAll(async () => {
  redis = await startRedis()
})
afterAll(() => redis?.stop())
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

/** A meeting as both senders write it: the same id, content and createdAt. */
const meeting = (id: string, n: number) => ({
  id,
  contactEmail: 'ada@example.com',
  type: 'MEETING',
  name: `Call ${n}`,
  createdAt: '2025-08-12T09:21:45Z',
  data: { minutes: n % 60, source: 'calendar' },
})

interface ProxyAnswer {
  accepted: number
  duplicates: number
  rejected: unknown[]
}

/** Posts `batch` as a page of {@link APP} does, until it is answered 200 (honouring Retry-After), within `timeoutMs`. */
async function deliver(proxy: RunningProxy, batch: object[], timeoutMs = 40_000): Promise<ProxyAnswer> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response = await fetch(proxy.url, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json' },
      body: JSON.stringify({ batch }),
    })
    if (response.status === 200) return (await response.json()) as ProxyAnswer
    if (Date.now() > deadline) throw new Error(`still ${response.status} after ${timeoutMs} ms`)
    const seconds = Number(response.headers.get('retry-after') ?? '1')
    await response.body?.cancel()
    await new Promise((resolve) => setTimeout(resolve, Math.min(seconds, 1) * 1_000))
  }
}

const count = (results: TrackResult[], status: TrackResult['status']) => results.filter((result) => result.status === status).length

/**
 * The client and two replicas of one key, all on Redis but the client when `clientRedis` is
 * false; then all three at once: the page sends the shared engagements through replica b and
 * each replica gets a load of its own, while the client sends the shared ones and a load of its own.
 */
async function sendFromAllThree(clientRedis: boolean) {
  const apiKey = `sk_test_client_fleet_${Date.now()}_${++keySeed}`
  const stack = nodeStack(apiKey)
  stacks.push(stack)
  // Latency keeps requests of all three out at once.
  const emulator: RunningEmulator = await stack.emulator({ faults: { latencyMs: 60 } })
  const [a, b] = [await stack.proxy(emulator, { redisUrl: redis.url }), await stack.proxy(emulator, { redisUrl: redis.url })] as [
    RunningProxy,
    RunningProxy,
  ]
  const client = createClient({ apiKey, upstreamUrl: emulator.url, ...(clientRedis ? { redisUrl: redis.url } : {}) })
  clients.push(client)
  await until(async () =>
    (await Promise.all([a, b].map(async (proxy) => (await fetch(`${proxy.origin}/readyz`)).status === 200))).every(Boolean),
  )

  const shared = Array.from({ length: SHARED }, (_, n) => meeting(`shared-${n}`, n))
  const load = (prefix: string) =>
    Array.from({ length: REPLICA_REQUESTS }, (_, k) => Array.from({ length: 200 }, (_, n) => meeting(`${prefix}-${k}-${n}`, n)))
  const [fromClient, fromPage, , ownLoad] = await Promise.all([
    client.trackMany(shared),
    deliver(b, shared),
    Promise.all([...load('replica-a').map((batch) => deliver(a, batch)), ...load('replica-b').map((batch) => deliver(b, batch))]),
    client.trackMany(Array.from({ length: CLIENT_ENGAGEMENTS }, (_, n) => meeting(`client-${n}`, n))),
  ])
  expect(count(ownLoad, 'accepted')).toBe(CLIENT_ENGAGEMENTS)
  return { emulator, fromClient, fromPage, total: SHARED + 2 * REPLICA_REQUESTS * 200 + CLIENT_ENGAGEMENTS }
}

describe('a backend client beside two proxy replicas, sharing Redis', () => {
  it(`keeps Conversion at ${LIMIT} request starts in any second under load from all three, and delivers an engagement both send once`, {
    timeout: 60_000,
  }, async () => {
    const { emulator, fromClient, fromPage, total } = await sendFromAllThree(true)
    expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(LIMIT)
    // Each shared engagement was accepted by one sender and answered as a duplicate to the other.
    expect(count(fromClient, 'accepted') + fromPage.accepted).toBe(SHARED)
    expect(count(fromClient, 'duplicate') + fromPage.duplicates).toBe(SHARED)
    expect(fromPage.rejected).toEqual([])
    expect(emulator.duplicates()).toEqual([])
    expect(new Set(emulator.ids()).size).toBe(total)
  })

  it('control: a client that paces and remembers alone breaches both', { timeout: 60_000 }, async () => {
    const { emulator, fromClient, fromPage } = await sendFromAllThree(false)
    expect(emulator.maxStartsInAnyWindow()).toBeGreaterThan(LIMIT)
    // Neither sender knew of the other: each delivered every shared engagement.
    expect(count(fromClient, 'accepted')).toBe(SHARED)
    expect(fromPage.accepted).toBe(SHARED)
    expect(emulator.duplicates()).toHaveLength(SHARED)
  })
})
