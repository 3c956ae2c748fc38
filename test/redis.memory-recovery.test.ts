/**
 * The Redis memory after faults, against a real redis-server: an acknowledgement that failed is
 * stored later, a recovery cut short is made again, and a claim whose answer was lost is this
 * sender's own. Faults come from a second, plain connection (paused writes, killed connections, a
 * key of the wrong type), so each happens at a known point.
 */
import { createClient } from '@redis/client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisCoordination, type RedisCoordination, type RedisCoordinationOptions } from '../src/adapters/node/redis/index.js'
import { redisKeys } from '../src/adapters/node/redis/keys.js'
import type { MemoryKey, Recall } from '../src/core/coalescer/index.js'
import { digestOf } from './helpers/parcels.js'
import { recordingLogger } from './helpers/proxy.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { until } from './helpers/until.js'

const KEY = 'sk_test_fake_redis_recovery_0123456789abcdef'
let redis: RedisServer
let plain: ReturnType<typeof createClient>
let keySeed = 0
const open: RedisCoordination[] = []

beforeAll(async () => {
  redis = await startRedis()
  plain = createClient({ url: redis.url })
  await plain.connect()
})
afterAll(async () => {
  await plain.close()
  await redis.stop()
})
afterEach(async () => {
  // A test that failed half-way leaves no pause and no refusal behind.
  await plain.sendCommand(['CLIENT', 'UNPAUSE'])
  await Promise.all(open.splice(0).map((coordination) => coordination.close()))
})

/** A sender of the test's key, once connected. */
async function sender(apiKey: string, options: Partial<RedisCoordinationOptions> = {}) {
  const { logger } = recordingLogger()
  const coordination = createRedisCoordination({ url: redis.url, apiKey, logger, ...options })
  open.push(coordination)
  await until(() => coordination.reachable)
  return coordination
}

const key = (id: string, content = 'a'): MemoryKey => ({ id, digest: digestOf(id, `${id}:${content}`) })
const engagementKey = (apiKey: string, memoryKey: MemoryKey) => redisKeys(apiKey).engagement(memoryKey.digest.slice(0, 16))

/** What `coordination` answers about `list` once it answers at all (its connection may be coming back). */
async function recalled(coordination: RedisCoordination, list: MemoryKey[]): Promise<readonly Recall[]> {
  let verdicts: readonly Recall[] | undefined
  await until(async () => {
    verdicts = await Promise.resolve(coordination.memory.recall(list, Date.now())).catch(() => undefined)
    return verdicts !== undefined
  })
  return verdicts as readonly Recall[]
}

/** Closes every normal connection but the plain one, as a network blip would. */
const killConnections = () => plain.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'])

describe('redis memory: an acknowledgement that failed', () => {
  it('is stored once Redis answers again, and its claim is kept meanwhile, so no other sender is told the engagement is new', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey, { claimLeaseMs: 600 })
    const b = await sender(apiKey, { claimLeaseMs: 600 })
    const delivered = key('delivered')
    expect(await a.memory.recall([delivered], Date.now())).toEqual(['new'])
    // Writes wait in Redis; the acknowledgement is taken in but not run, then its connection is cut.
    await plain.sendCommand(['CLIENT', 'PAUSE', '10000', 'WRITE'])
    const acknowledged = Promise.resolve(a.memory.acknowledge([delivered], Date.now()))
    acknowledged.catch(() => {})
    await until(async () => /cmd=evalsha/.test(String(await plain.sendCommand(['CLIENT', 'LIST', 'TYPE', 'normal']))))
    await killConnections()
    await expect(acknowledged).rejects.toThrow()
    await plain.sendCommand(['CLIENT', 'UNPAUSE'])
    // Longer than a lease: a claim left alone would have expired by now.
    const leaseOver = Date.now() + 1_200
    await until(() => Date.now() > leaseOver)
    expect(await recalled(b, [delivered])).toEqual(['known'])
    expect(await plain.get(engagementKey(apiKey, delivered))).toMatch(/^a:/)
  })
})

describe('redis memory: a recovery cut short', () => {
  it('is made again, so what Redis lost is back before another sender is told it is new', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey, { recoveryGraceMs: 100 })
    const b = await sender(apiKey, { recoveryGraceMs: 100 })
    const claimed = key('claimed')
    const delivered = key('delivered')
    expect(await a.memory.recall([claimed, delivered], Date.now())).toEqual(['new', 'new'])
    await a.memory.acknowledge([delivered], Date.now())
    // Redis lost everything (as after an empty restart), and a key of the wrong type stands where
    // a's claim goes back: its recovery fails there, part-way.
    await plain.flushAll()
    await plain.configResetStat()
    await plain.rPush(engagementKey(apiKey, claimed), 'in the way')
    await killConnections()
    await until(async () => /errorstat_WRONGTYPE:count=[1-9]/.test(await plain.info('errorstats')))
    await plain.del(engagementKey(apiKey, claimed))
    // a answers again only once it has put back what it knows.
    await recalled(a, [key('after')])
    expect(await recalled(b, [delivered, claimed])).toEqual(['known', 'pending'])
  })
})

describe('redis memory: a claim whose answer was lost', () => {
  it('is its sender’s own: asked again, the sender is told new and the claim runs for a full lease again', async () => {
    const apiKey = `${KEY}-${++keySeed}`
    const a = await sender(apiKey, { claimLeaseMs: 60_000 })
    const b = await sender(apiKey, { claimLeaseMs: 60_000 })
    // A claim of a's, made by a CLAIM whose answer never reached a.
    const probe = key('probe')
    expect(await a.memory.recall([probe], Date.now())).toEqual(['new'])
    const value = String(await plain.get(engagementKey(apiKey, probe)))
    const owner = value.slice(value.lastIndexOf(':') + 1)
    const orphan = key('orphan')
    await plain.set(engagementKey(apiKey, orphan), `c:${orphan.digest.slice(16, 32)}:${owner}`, { PX: 5_000 })
    expect(await a.memory.recall([orphan, key('orphan', 'other')], Date.now())).toEqual(['new', 'conflict'])
    expect(await plain.pTTL(engagementKey(apiKey, orphan))).toBeGreaterThan(50_000)
    expect(await b.memory.recall([orphan], Date.now())).toEqual(['pending'])
  })
})
