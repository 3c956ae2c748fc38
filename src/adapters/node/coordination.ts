/**
 * Where a Node proxy keeps its limit and its memory of delivered engagements: in the process
 * (the default), in a state file (one process), or in Redis, shared by every replica of a fleet.
 */
import type { DeliveryMemory, SharedPacer } from '../../core/coalescer/index.js'
import { createCoalescerPacer } from '../../core/coalescer/index.js'
import type { ProxyLogger, ProxySettings } from '../../proxy/options.js'
import { createFileMemory } from './file-memory.js'
import { createRedisCoordination } from './redis/index.js'

/** The ports chosen, and how to close them. */
export interface Coordination {
  /** Absent: the Coalescer keeps its memory in the process. */
  memory: DeliveryMemory | undefined
  pacer: SharedPacer
  /** Whether Redis answered lately; absent without Redis. */
  redisReachable: (() => boolean) | undefined
  close(): Promise<void>
}

/** What the choice depends on: the options of `serveProxy` that name a place. */
export interface CoordinationChoice {
  stateFile: string | undefined
  redisUrl: string | undefined
  /** Ports injected by the host, used as they are. */
  memory: DeliveryMemory | undefined
  pacer: SharedPacer | undefined
  settings: Pick<ProxySettings, 'apiKey' | 'maxRequestsPerSecond' | 'upstreamTimeout' | 'now'>
  logger: ProxyLogger
}

const subject = 'conversion-engagements proxy'

export function chooseCoordination({ stateFile, redisUrl, memory, pacer, settings, logger }: CoordinationChoice): Coordination {
  const given = [stateFile !== undefined && '`stateFile`', redisUrl !== undefined && '`redisUrl`', memory && '`memory`'].filter(Boolean)
  if (given.length > 1) {
    const which = given.length === 2 ? `${given.join(' or ')}, not both` : `one of ${given.join(', ')}, not several`
    throw new TypeError(`${subject}: give ${which}: each is a memory of delivered engagements`)
  }
  if (redisUrl !== undefined && pacer) throw new TypeError(`${subject}: give \`redisUrl\` or \`pacer\`, not both: Redis paces the fleet`)

  if (redisUrl !== undefined) {
    // The URL may hold a password: it is never quoted back.
    if (typeof redisUrl !== 'string' || !/^rediss?:\/\//.test(redisUrl))
      throw new TypeError(`${subject}: \`redisUrl\` must be a redis:// or rediss:// URL`)
    const redis = createRedisCoordination({
      url: redisUrl,
      apiKey: settings.apiKey,
      maxRequestsPerSecond: settings.maxRequestsPerSecond,
      upstreamTimeout: settings.upstreamTimeout,
      logger,
    })
    return { memory: redis.memory, pacer: redis.pacer, redisReachable: () => redis.reachable, close: () => redis.close() }
  }
  const file =
    stateFile === undefined
      ? undefined
      : createFileMemory({ path: stateFile, now: settings.now, onProblem: (message) => logger.warn(`[conversion-engagements] ${message}`) })
  return {
    memory: file ?? memory,
    // The Coalescer's own pacer, built here so that its waits can be counted.
    pacer: pacer ?? createCoalescerPacer({ maxRequestsPerSecond: settings.maxRequestsPerSecond }),
    redisReachable: undefined,
    close: async () => file?.close(),
  }
}
