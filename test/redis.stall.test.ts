/**
 * The Redis coordination against a real redis-server that stops answering while its connections
 * stay up (paused with SIGSTOP, as a stalled process or a connection cut without a word): commands
 * fail within their timeout, Redis is said unreachable once, the stalled connection is replaced,
 * closing ends, and everything comes back by itself once Redis answers again.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisCoordination, type RedisCoordination, type RedisCoordinationOptions } from '../src/adapters/node/redis/index.js'
import type { Reservation } from '../src/core/coalescer/index.js'
import { digestOf } from './helpers/parcels.js'
import { recordingLogger } from './helpers/proxy.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { until } from './helpers/until.js'

const KEY = 'sk_test_fake_redis_stall_0123456789abcdef'
/** Short, so that a test sees several timeouts well within its deadlines. */
const COMMAND_TIMEOUT_MS = 200
/** How long anything asked of a stalled Redis may take to settle: many command timeouts. */
const SETTLED_WITHIN_MS = 3_000
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
  // Never leave Redis paused for the next test, nor a coordination open.
  redis.resume()
  await Promise.all(open.splice(0).map((coordination) => coordination.close()))
})

/** `answer`, or a rejection saying it did not settle within `timeoutMs`. */
async function within<T>(answer: T | Promise<T>, timeoutMs = SETTLED_WITHIN_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([answer, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A sender of its own key with a short command timeout, not yet waited for. */
function coordination(options: Partial<RedisCoordinationOptions> = {}) {
  const { logger, logs } = recordingLogger()
  const apiKey = `${KEY}-${++keySeed}`
  const created = createRedisCoordination({ url: redis.url, apiKey, logger, commandTimeoutMs: COMMAND_TIMEOUT_MS, ...options })
  open.push(created)
  return Object.assign(created, { logs, apiKey })
}

/** The same, once connected. */
async function sender(options: Partial<RedisCoordinationOptions> = {}) {
  const created = coordination(options)
  await until(() => created.reachable)
  return created
}

const key = (id: string, content = 'a') => ({ id, digest: digestOf(id, `${id}:${content}`) })

/** Reserves until granted (a new key waits one window first: its epoch is new). */
async function granted(pacer: RedisCoordination['pacer'], timeoutMs = 5_000): Promise<Reservation & { granted: true }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const reservation = await within(pacer.reserve(Date.now()))
    if (reservation.granted) return reservation
    if (Date.now() > deadline) throw new Error('never granted')
    await new Promise((resolve) => setTimeout(resolve, Math.min(reservation.waitMs, 50)))
  }
}

/** Everything said of Redis's state, one line each. */
const said = (logs: string[], what: RegExp) => logs.filter((line) => what.test(line))

describe('redis coordination: a Redis that stops answering', () => {
  it('fails a reservation and a recall within the command timeout, says so once without the URL, and is back by itself once Redis answers', async () => {
    const a = await sender()
    await granted(a.pacer)
    redis.pause()
    await expect(within(a.pacer.reserve(Date.now()))).rejects.toThrow(`no answer within ${COMMAND_TIMEOUT_MS} ms`)
    expect(a.reachable).toBe(false)
    await expect(within(a.memory.recall([key('stalled')], Date.now()))).rejects.toThrow()
    // The stalled connection was replaced: while Redis is away, the next command is refused
    // without waiting for an answer.
    const refused = await within(a.pacer.reserve(Date.now())).catch((error: Error) => error)
    expect(refused).toBeInstanceOf(Error)
    expect((refused as Error).message).not.toMatch(/no answer|not settled/)

    const down = said(a.logs, /Redis is unreachable/)
    expect(down).toHaveLength(1)
    expect(down[0]).toContain(`no answer within ${COMMAND_TIMEOUT_MS} ms`)
    expect(a.logs.join('\n')).not.toContain(redis.url)
    expect(a.logs.join('\n')).not.toContain(a.apiKey)

    redis.resume()
    await until(() => a.reachable)
    expect(await within(a.memory.recall([key('after')], Date.now()))).toEqual(['new'])
    await granted(a.pacer)
    expect(said(a.logs, /Redis is unreachable/)).toHaveLength(1)
    expect(said(a.logs, /Redis is reachable again/)).toHaveLength(1)
  })

  it('closes within a bounded time while a command waits on a paused Redis', async () => {
    const a = await sender()
    redis.pause()
    const waiting = Promise.resolve(a.pacer.reserve(Date.now()))
    waiting.catch(() => {})
    // One turn of the event loop: the command is then on its way, which close() would wait for.
    await new Promise((resolve) => setImmediate(resolve))
    await within(a.close())
    await expect(within(waiting)).rejects.toThrow()
    expect(a.reachable).toBe(false)
  })
})

describe('redis coordination: a Redis that takes the connection but never answers its handshake', () => {
  it('fails closed, says so once naming the time, and connects once Redis answers', async () => {
    redis.pause()
    const a = coordination()
    await until(() => said(a.logs, /Redis is unreachable/).length > 0)
    expect(a.reachable).toBe(false)
    await expect(within(a.pacer.reserve(Date.now()))).rejects.toThrow()
    expect(said(a.logs, /Redis is unreachable/)[0]).toContain(`no answer within ${COMMAND_TIMEOUT_MS} ms to the handshake`)

    redis.resume()
    await until(() => a.reachable)
    await granted(a.pacer)
    expect(said(a.logs, /Redis is unreachable/)).toHaveLength(1)
    expect(said(a.logs, /Redis is reachable again/)).toHaveLength(1)
  })

  it('closes within a bounded time while its handshake waits', async () => {
    redis.pause()
    const a = coordination()
    // Said once the first handshake went unanswered: the next one is then under way.
    await until(() => said(a.logs, /Redis is unreachable/).length > 0)
    await within(a.close())
    expect(a.reachable).toBe(false)
  })
})
