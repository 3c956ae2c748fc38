/**
 * conversion-engagements/redis: one limit and one memory of delivered engagements for every
 * sender of an API key (any number of Node proxy replicas, route handlers in many instances,
 * backends), through Redis 7 (or Valkey).
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto'
import type { DeliveryMemory, SharedPacer } from '../../../core/coalescer/index.js'
import { LIMITS } from '../../../contract.js'
import { optionReader } from '../../../core/options.js'
import { PROXY_DEFAULTS, type ProxyLogger } from '../../../proxy/options.js'
import { connectCoordination } from './client.js'
import { redisKeys } from './keys.js'
import { createRedisMemory } from './memory.js'
import { createRedisPacer } from './pacer.js'

/**
 * Options of {@link createRedisCoordination}. `url` and `apiKey` are required.
 * @example createRedisCoordination({ url: process.env.REDIS_URL!, apiKey: process.env.CONVERSION_API_KEY! })
 */
export interface RedisCoordinationOptions {
  /** Such as `redis://user:password@redis.internal:6379/0`, or `rediss://` for TLS. Never logged. */
  url: string
  /** The Conversion API key the senders share. Only a hash of it names the keys in Redis. */
  apiKey: string
  /** Upstream request starts in any sliding second for all senders together, 1 to 10. Default `10`. */
  maxRequestsPerSecond?: number
  /** The senders' upstream timeout, in ms: a started request holds its slot at most this long (and a margin). Default `10000`. */
  upstreamTimeout?: number
  /**
   * A sender starts its upstream request only if Redis granted the slot within this many ms,
   * else it abandons the slot (which still counts): a slot's lease covers this margin, so a
   * request started later could outlive it. Default `250`: a Redis in another zone, or an event
   * loop held up by a long garbage collection, must not make every grant arrive too late.
   */
  startWithinMs?: number
  /** How long a delivered engagement is remembered, in ms. Default `86400000` (24 hours). */
  retentionMs?: number
  /** How long a claim outlives a sender that died, in ms. Default `30000`. */
  claimLeaseMs?: number
  /** How long one Redis command may take before the proxy fails closed, in ms. Default `1000`. */
  commandTimeoutMs?: number
  /**
   * After Redis restarted empty (without persistence), how long every replica waits before it
   * answers questions again, while each puts back the claims and acknowledgements it knows, in ms.
   * Default `5000`: longer than a replica takes to reconnect (2 s at most).
   */
  recoveryGraceMs?: number
  /** Where changes of Redis's state are said (once each). Default `console`. */
  logger?: ProxyLogger
}

/** The shared pacer and memory, for `createProxy({ pacer, memory })`. */
export interface RedisCoordination {
  pacer: SharedPacer
  memory: DeliveryMemory
  /** Whether Redis answered lately: what a readiness check asks. */
  readonly reachable: boolean
  /** Stops renewing claims and closes the connection. */
  close(): Promise<void>
}

export const REDIS_DEFAULTS = {
  maxRequestsPerSecond: LIMITS.requestsPerSecond,
  upstreamTimeout: PROXY_DEFAULTS.upstreamTimeout,
  startWithinMs: 250,
  retentionMs: 86_400_000,
  claimLeaseMs: 30_000,
  commandTimeoutMs: 1_000,
  recoveryGraceMs: 5_000,
} as const

/** The Coalescer's window: a second and its margin. */
const WINDOW_MS = 1_005
/** Slack on a slot's lease beyond the start margin and the upstream timeout. */
const LEASE_SLACK_MS = 1_000
const read = optionReader('conversion-engagements redis')

/**
 * Connects to Redis (in the background: until it answers, the proxy answers 503) and returns the
 * pacer and memory to give `createProxy`.
 * @example
 * const redis = createRedisCoordination({ url: process.env.REDIS_URL!, apiKey })
 * const proxy = createProxy({ apiKey, allowedOrigins, pacer: redis.pacer, memory: redis.memory })
 */
export function createRedisCoordination(options: RedisCoordinationOptions): RedisCoordination {
  const D = REDIS_DEFAULTS
  if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) read.fail('url', 'a redis:// or rediss:// URL')
  if (typeof options.apiKey !== 'string' || options.apiKey === '') read.fail('apiKey', 'your Conversion API key')
  const positive = (name: keyof typeof D, value: number | undefined) => read.number(name, value, D[name], { min: 1 })
  const limit = read.number('maxRequestsPerSecond', options.maxRequestsPerSecond, D.maxRequestsPerSecond, {
    min: 1,
    max: LIMITS.requestsPerSecond,
    integer: true,
  })
  const startWithinMs = positive('startWithinMs', options.startWithinMs)
  const owner = randomUUID()
  const client = connectCoordination({
    url: options.url,
    commandTimeoutMs: positive('commandTimeoutMs', options.commandTimeoutMs),
    logger: options.logger ?? console,
  })
  const keys = redisKeys(options.apiKey)
  const memory = createRedisMemory(client, keys, {
    retentionMs: positive('retentionMs', options.retentionMs),
    claimLeaseMs: positive('claimLeaseMs', options.claimLeaseMs),
    recoveryGraceMs: read.number('recoveryGraceMs', options.recoveryGraceMs, D.recoveryGraceMs, { min: 0 }),
    owner,
  })
  const pacer = createRedisPacer(client, keys, {
    limit,
    windowMs: WINDOW_MS,
    startWithinMs,
    leaseMs: startWithinMs + positive('upstreamTimeout', options.upstreamTimeout) + LEASE_SLACK_MS,
    owner,
  })
  return {
    pacer,
    memory,
    get reachable() {
      return client.reachable
    },
    async close() {
      memory.stop()
      await client.close()
    },
  }
}
