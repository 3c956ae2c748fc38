/**
 * What an import sends through: the backend client on a Coalescer the import holds itself, so that
 * it can see what the memory of delivered engagements stores (the journal closes a request once
 * all of it is stored) and give up at once on a second Ctrl-C (the client alone only closes after
 * everything handed over is settled, which never happens while Conversion keeps failing).
 * Composed as `createClient` composes its own: the same Coalescer, pacer, memory and limits.
 */
import type { DeliveryMemory, MemoryKey } from '../../../core/coalescer/index.js'
import { createConversionCoalescer } from '../../../proxy/conversion-coalescer.js'
import { DEFAULT_UPSTREAM_URL, type ProxyLogger } from '../../../proxy/options.js'
import { CLIENT_DEFAULTS, createClient, type Client } from '../../../server/index.js'
import { createRedisCoordination } from '../redis/index.js'

/** Options of {@link createImportSender}. */
export interface ImportSenderOptions {
  apiKey: string
  upstreamUrl: string | undefined
  /** Shares the key's limit and memory with a proxy fleet; without it, `memory` is the import's own. */
  redisUrl: string | undefined
  memory: DeliveryMemory | undefined
  maxRequestsPerSecond: number | undefined
  logger: ProxyLogger | undefined
  fetch: typeof fetch
  /** Hears the keys the memory stored, after it stored them. */
  onStored: (keys: readonly MemoryKey[]) => void
}

export interface ImportSender {
  client: Client
  /** Gives up at once: every engagement not settled yet resolves `busy`; nothing more is sent. */
  abandon(): void
  /** Waits for what was handed over (see `Client.close`), then stops. */
  close(): Promise<void>
}

export function createImportSender(options: ImportSenderOptions): ImportSender {
  const redis = options.redisUrl
    ? createRedisCoordination({
        url: options.redisUrl,
        apiKey: options.apiKey,
        ...(options.maxRequestsPerSecond ? { maxRequestsPerSecond: options.maxRequestsPerSecond } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      })
    : undefined
  const memory = redis?.memory ?? options.memory
  /** Acknowledgements on their way to the memory: the journal hears of them before Redis closes. */
  const storing = new Set<Promise<unknown>>()
  const coalescer = createConversionCoalescer({
    apiKey: options.apiKey,
    upstreamUrl: options.upstreamUrl ?? DEFAULT_UPSTREAM_URL,
    fetch: options.fetch,
    ...(options.maxRequestsPerSecond ? { maxRequestsPerSecond: options.maxRequestsPerSecond } : {}),
    // As the client's own: room is the client's to give, so the Coalescer holds all it is handed.
    maxBacklog: CLIENT_DEFAULTS.maxPending,
    clientShare: 1,
    ...(memory ? { memory: storedHeard(memory, options.onStored, storing) } : {}),
    ...(redis ? { pacer: redis.pacer } : {}),
  })
  const client = createClient({
    apiKey: options.apiKey,
    coalescer,
    ...(options.maxRequestsPerSecond ? { maxRequestsPerSecond: options.maxRequestsPerSecond } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  })
  return {
    client,
    abandon: () => coalescer.close(),
    async close() {
      await client.close()
      // A request's engagements settle before the memory has stored them: wait for that too.
      await Promise.allSettled(storing)
      coalescer.close()
      await redis?.close()
    },
  }
}

/** `memory`, telling `onStored` what it stored once it has (a promise settles first). */
function storedHeard(
  memory: DeliveryMemory,
  onStored: (keys: readonly MemoryKey[]) => void,
  storing: Set<Promise<unknown>>,
): DeliveryMemory {
  return {
    recall: (keys, now) => memory.recall(keys, now),
    release: (keys) => memory.release(keys),
    size: () => memory.size(),
    acknowledge(keys, now) {
      const stored = memory.acknowledge(keys, now)
      if (stored && typeof (stored as PromiseLike<void>).then === 'function') {
        const heard = Promise.resolve(stored).then(() => onStored(keys))
        storing.add(heard)
        void heard.finally(() => storing.delete(heard)).catch(() => {})
        return heard
      }
      onStored(keys)
      return stored
    },
  }
}
