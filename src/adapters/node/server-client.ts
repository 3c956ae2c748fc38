/**
 * conversion-engagements/server on Node: the backend client, with `redisUrl` to share the key's
 * one limit and one memory of delivered engagements with a proxy fleet.
 * @packageDocumentation
 */
import { createClient as createNeutralClient, type Client, type ClientOptions } from '../../server/index.js'
import { resolveClientOptions } from '../../server/options.js'
import { createRedisCoordination } from './redis/index.js'

export { CLIENT_DEFAULTS, type Client, type ClientOptions, type ServerTrackInput, type TrackResult } from '../../server/index.js'

/**
 * Creates the client; with `redisUrl`, every call shares the pacer and the memory of the proxies
 * and clients of the same key.
 * @example
 * const conversion = createClient({ apiKey: process.env.CONVERSION_API_KEY!, redisUrl: process.env.REDIS_URL })
 */
export function createClient(options: ClientOptions): Client {
  const { redisUrl, ...rest } = options
  if (redisUrl === undefined || redisUrl === '') return createNeutralClient(rest)
  // Checked before Redis is connected: an invalid option must leave no socket or timer behind.
  resolveClientOptions(rest)
  const redis = createRedisCoordination({
    url: redisUrl,
    apiKey: options.apiKey,
    ...(options.maxRequestsPerSecond === undefined ? {} : { maxRequestsPerSecond: options.maxRequestsPerSecond }),
    ...(options.upstreamTimeout === undefined ? {} : { upstreamTimeout: options.upstreamTimeout }),
    ...(options.logger ? { logger: options.logger } : {}),
  })
  let client: Client
  try {
    client = createNeutralClient({ ...rest, pacer: redis.pacer, memory: redis.memory })
  } catch (error) {
    void redis.close()
    throw error
  }
  return {
    ...client,
    async close() {
      await client.close()
      await redis.close()
    },
  }
}
