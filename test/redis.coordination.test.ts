/**
 * The Redis coordination against a real redis-server: claims, acknowledgements, releases and
 * leases between senders; the pacer's sliding window; what a restart empty does; and failing
 * closed while Redis is away.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisCoordination, type RedisCoordination, type RedisCoordinationOptions } from '../src/adapters/node/redis/index.js'
import type { Reservation } from '../src/core/coalescer/index.js'
import { recordingLogger } from './helpers/proxy.js'
import { digestOf } from './helpers/parcels.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { until } from './helpers/until.js'

const KEY = 'sk_test_fake_redis_test_0123456789abcdef'
let redis: RedisServer
let keySeed = 0
const open: RedisCoordination[] = []

beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis.stop()
})
afterEach(async () => {
  await Promise.all(open.splice(0).map((coordination) => coordination.close()))
})

/** A sender of the test's key (each test gets its own key, so they do not meet in Redis), once connected. */
async function sender(apiKey: string, options: Partial<RedisCoordinationOptions> = {}) {
  const { logger, logs } = recordingLogger()
  const coordination = createRedisCoordination({ url: redis.url, apiKey, logger, ...options })
  open.push(coordination)
  await until(() => coordination.reachable)
  return Object.assign(coordination, { logs })
}

const key = (id: string, content = 'a') => ({ id, digest: digestOf(id, `${id}:${content}`) })

/** Reserves until granted (a new key waits one window first: its epoch is new). */
async function granted(coordination: RedisCoordination, timeoutMs = 5_000): Promise<Reservation & { granted: true }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const reservation = await coordination.pacer.reserve(Date.now())
    if (reservation.granted) return reservation
    if (Date.now() > deadline) throw new Error('never granted')
    await new Promise((resolve) => setTimeout(resolve, Math.min(reservation.waitMs, 50)))
  }
}

describe('redis memory: one id, one sender at a time', () => {
  it('claims for one sender; another sees it pending, then known once acknowledged, and a conflict for other content', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey)
    const b = await sender(apiKey)
    const now = Date.now()
    expect(await a.memory.recall([key('x'), key('y')], now)).toEqual(['new', 'new'])
    expect(await b.memory.recall([key('x'), key('x', 'other'), key('z')], now)).toEqual(['pending', 'conflict', 'new'])
    await a.memory.acknowledge([key('x')], now)
    expect(await b.memory.recall([key('x'), key('x', 'other')], now)).toEqual(['known', 'conflict'])
  })

  it('gives back only its own claims: a released id is claimed by the next sender', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey)
    const b = await sender(apiKey)
    expect(await a.memory.recall([key('r')], Date.now())).toEqual(['new'])
    // b holds no claim on it: releasing does nothing.
    await b.memory.release([key('r')])
    expect(await b.memory.recall([key('r')], Date.now())).toEqual(['pending'])
    await a.memory.release([key('r')])
    expect(await b.memory.recall([key('r')], Date.now())).toEqual(['new'])
  })

  it('keeps a claim while its sender lives, and lets it expire when the sender is gone', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey, { claimLeaseMs: 300 })
    const b = await sender(apiKey, { claimLeaseMs: 300 })
    expect(await a.memory.recall([key('lease')], Date.now())).toEqual(['new'])
    // Renewed every 100 ms: still a's after three leases.
    const held = Date.now() + 900
    await until(() => Date.now() > held)
    expect(await b.memory.recall([key('lease')], Date.now())).toEqual(['pending'])
    // a dies (stops renewing): its claim expires, and the id goes to whoever holds it next.
    await a.close()
    await until(async () => (await b.memory.recall([key('lease')], Date.now()))[0] === 'new')
  })
})

describe('redis memory: Redis restarted empty', () => {
  it('gets back the claims and acknowledgements its senders hold, before anyone is told an engagement is new', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey, { recoveryGraceMs: 300 })
    const b = await sender(apiKey, { recoveryGraceMs: 300 })
    const now = Date.now()
    expect(await a.memory.recall([key('claimed'), key('delivered')], now)).toEqual(['new', 'new'])
    await a.memory.acknowledge([key('delivered')], now)
    await redis.stop()
    await redis.start()
    await until(() => a.reachable && b.reachable)
    // b asks about what only a knows: a has put it back by the time b is answered.
    expect(await b.memory.recall([key('claimed'), key('delivered'), key('delivered', 'other')], Date.now())).toEqual([
      'pending',
      'known',
      'conflict',
    ])
  })
})

describe('redis pacer: one sliding window for every sender', () => {
  it('grants at most the limit in any window among several senders, a slot counting until its answer lands', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const senders = await Promise.all([1, 2, 3].map(() => sender(apiKey, { maxRequestsPerSecond: 4 })))
    await granted(senders[0] as RedisCoordination).then((first) => first.slot.land(Date.now()))
    const flights: [number, number][] = []
    const stopAt = Date.now() + 2_500
    await Promise.all(
      senders.map(async (coordination) => {
        while (Date.now() < stopAt) {
          const reservation = await coordination.pacer.reserve(Date.now())
          if (!reservation.granted) {
            await new Promise((resolve) => setTimeout(resolve, reservation.waitMs))
            continue
          }
          const start = Date.now()
          await new Promise((resolve) => setTimeout(resolve, 30))
          const answer = Date.now()
          reservation.slot.land(answer)
          flights.push([start, answer])
        }
      }),
    )
    expect(flights.length).toBeGreaterThanOrEqual(8)
    // However the network placed each request between its start and its answer.
    for (const [t] of flights) {
      const inWindow = flights.filter(([start, answer]) => start < t + 1_000 && answer >= t).length
      expect(inWindow).toBeLessThanOrEqual(4)
    }
  })

  it('after Redis restarts empty, waits one full window before the first start, and says when it is lost and back, once each', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const coordination = await sender(apiKey)
    await granted(coordination)
    await redis.stop()
    await expect(Promise.resolve().then(() => coordination.pacer.reserve(Date.now()))).rejects.toThrow()
    await expect(Promise.resolve().then(() => coordination.memory.recall([key('down')], Date.now()))).rejects.toThrow()
    await redis.start()
    await until(() => coordination.reachable)
    const first = await coordination.pacer.reserve(Date.now())
    expect(first).toMatchObject({ granted: false })
    expect((first as { waitMs: number }).waitMs).toBeGreaterThan(0)
    await granted(coordination)
    const said = coordination.logs.join('\n')
    expect(said.match(/Redis is unreachable/g)).toHaveLength(1)
    expect(said.match(/Redis is reachable again/g)).toHaveLength(1)
    expect(said).not.toContain(apiKey)
  })
})
