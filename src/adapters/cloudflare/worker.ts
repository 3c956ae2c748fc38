/**
 * The proxy as a Cloudflare Worker. Configuration comes from bindings: the secret
 * `CONVERSION_API_KEY` (`npx wrangler secret put CONVERSION_API_KEY`) and plain vars for the
 * rest (see `WorkerEnv`); `wrangler.jsonc` at the package root deploys it with `npx wrangler deploy`.
 *
 * Three modes, chosen by the bindings present:
 * - `COALESCER` (a Durable Object namespace): each client request is validated here, then handed
 *   in one RPC call to the object of the API key, which paces and de-duplicates for every
 *   isolate in the world; the client is answered once its engagements are settled upstream.
 * - `ENGAGEMENTS_QUEUE` as well (queue mode): each client request is validated here, enqueued,
 *   and answered once enqueued; the Worker's queue consumer drains the queue through the object.
 * - neither: each isolate paces and de-duplicates for itself (it says so once), which holds
 *   Conversion's limit only while one isolate serves the traffic.
 */
import { createCoalescerPacer } from '../../core/coalescer/index.js'
import { createMemory } from '../../core/memory.js'
import { createConversionCoalescer } from '../../proxy/conversion-coalescer.js'
import { coalescerName } from './durable-object.js'
import { bindingGuard } from './binding-guard.js'
import type { ProxyLogger } from '../../proxy/options.js'
import { createProxy, type Proxy } from '../../proxy/proxy.js'
import { drainQueue, queueSubmitter, type QueueBatchLike } from './queue.js'
import { scrub } from '../../proxy/upstream.js'
import { readBindings, type Bindings, type CoalescerNamespace, type Submitter, type WorkerEnv } from './env.js'

// workerd refuses a main module that exports anything but handlers, classes and functions.
export { EngagementCoalescer } from './durable-object.js'
export type { CoalescerNamespace, CoalescerStub, DeadLetter, QueuedEngagements, QueueProducer, WorkerEnv } from './env.js'

/** The Worker's handlers, as workerd calls them. */
export interface WorkerHandlers {
  fetch(request: Request, env: WorkerEnv): Promise<Response>
  /** The consumer of `ENGAGEMENTS_QUEUE` (queue mode). */
  queue(batch: QueueBatchLike, env: WorkerEnv): Promise<void>
}

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  /** Where operators read what the Worker says. Never receives the API key. Default `console`. */
  logger?: ProxyLogger
}

/** How an RPC failure (the object overloaded, reset by a deploy, unreachable) is answered: the client retries. */
const OBJECT_RETRY_AFTER_MS = 1_000

/**
 * Builds the Worker's handlers; the default export is `createWorker()`. Build your own to pass
 * a logger, or to wrap the handlers; re-export `EngagementCoalescer` from your main module too.
 * @example
 * import { createWorker, EngagementCoalescer } from 'conversion-engagements/worker'
 * export { EngagementCoalescer }
 * export default createWorker()
 */
export function createWorker(options: WorkerOptions = {}): WorkerHandlers {
  const logger = options.logger ?? console
  /**
   * One proxy per isolate and configuration, kept between requests: in the per-isolate mode its
   * Coalescer paces and de-duplicates across them. (The `env` object itself is not promised to
   * be the same each time.)
   */
  const proxies = new Map<string, Proxy>()
  /** Per-isolate Coalescers by key and upstream, shared by the ingress and the consumer. */
  const isolateCoalescers = new Map<string, Submitter>()
  let warnedPerIsolate = false
  let lastUnreachable = -Infinity
  /** Says why the object could not be reached, at most once a minute, so an incident does not flood the logs. */
  const unreachable = (error: unknown, apiKey: string): void => {
    const now = Date.now()
    if (now - lastUnreachable < 60_000) return
    lastUnreachable = now
    logger.error(
      '[conversion-engagements] the EngagementCoalescer Durable Object could not be reached; clients are asked to retry:',
      scrub(String(error), apiKey),
    )
  }

  /** Where engagements go: the key's Durable Object, else this isolate's Coalescer (said once). */
  const coalescerFor = (env: WorkerEnv, bindings: Bindings = readBindings(env)): Submitter => {
    const { apiKey, upstreamUrl, maxRequestsPerSecond: rate } = bindings
    if (env.COALESCER) return objectCoalescer(env.COALESCER, apiKey, unreachable)
    const configuration = [apiKey, upstreamUrl, rate].join('\n')
    let coalescer = isolateCoalescers.get(configuration)
    if (!coalescer) {
      if (!warnedPerIsolate) {
        warnedPerIsolate = true
        logger.warn(
          "[conversion-engagements] pacing and de-duplication are per isolate: with traffic on many isolates, Conversion's 10 requests per second per key is not guaranteed. Bind the EngagementCoalescer Durable Object as COALESCER to hold it globally.",
        )
      }
      coalescer = perRequestCoalescer(apiKey, upstreamUrl, rate)
      isolateCoalescers.set(configuration, coalescer)
    }
    return coalescer
  }

  const proxyFor = (env: WorkerEnv): Proxy => {
    const mode = env.ENGAGEMENTS_QUEUE ? 'queue' : env.COALESCER ? 'object' : 'isolate'
    const configuration = [
      mode,
      env.CONVERSION_API_KEY,
      env.ALLOWED_ORIGINS,
      env.PROXY_PATH,
      env.CONVERSION_API_URL,
      env.IDENTITY_SECRET,
      env.ALLOWED_TYPES,
      env.MAX_REQUESTS_PER_SECOND,
      env.CLIENT_RATE_LIMIT_PERIOD,
    ].join('\n')
    let proxy = proxies.get(configuration)
    if (proxy) return proxy
    const bindings = readBindings(env)
    proxy = createProxy({
      coalescer: env.ENGAGEMENTS_QUEUE ? queueSubmitter(env.ENGAGEMENTS_QUEUE) : coalescerFor(env, bindings),
      apiKey: bindings.apiKey,
      allowedOrigins: bindings.allowedOrigins,
      upstreamUrl: bindings.upstreamUrl,
      maxRequestsPerSecond: bindings.maxRequestsPerSecond,
      ...(bindings.path ? { path: bindings.path } : {}),
      ...(bindings.identitySecret ? { identitySecret: bindings.identitySecret } : {}),
      ...(bindings.allowedTypes ? { allowedTypes: bindings.allowedTypes } : {}),
      // Set by Cloudflare's edge: clients cannot choose it.
      clientKey: (request) => request.headers.get('cf-connecting-ip') ?? undefined,
      ...(env.CLIENT_RATE_LIMITER ? { guard: bindingGuard(env.CLIENT_RATE_LIMITER, bindings.clientRateLimitPeriodMs) } : {}),
      logger,
    })
    proxies.set(configuration, proxy)
    return proxy
  }

  return {
    fetch: async (request, env) => proxyFor(env).fetch(request, env),
    queue: async (batch, env) =>
      drainQueue(batch, {
        coalescer: coalescerFor(env),
        deadLetters: env.DEAD_LETTERS,
        requeue: env.ENGAGEMENTS_QUEUE,
        logger,
        now: Date.now,
      }),
  }
}

/**
 * The Durable Object of the key in `env` (the `COALESCER` binding), for `createClient({ coalescer })`
 * from `conversion-engagements/server`: a Worker's own engagements then share the browsers' limit
 * and memory. An object that cannot be reached answers `busy` (the client waits and asks again).
 * @example createClient({ apiKey: env.CONVERSION_API_KEY, coalescer: keyCoalescer(env) })
 */
export function keyCoalescer(env: WorkerEnv, logger: ProxyLogger = console): Submitter {
  const { apiKey } = readBindings(env)
  if (!env.COALESCER)
    throw new TypeError('conversion-engagements worker: `COALESCER` must be bound to the EngagementCoalescer Durable Object namespace')
  return objectCoalescer(env.COALESCER, apiKey, (error) =>
    logger.error('[conversion-engagements] the EngagementCoalescer Durable Object could not be reached:', scrub(String(error), apiKey)),
  )
}

/**
 * The key's Durable Object as the proxy's Coalescer: one RPC call per client request. The stub is
 * made per call, inside the request that uses it; the name is computed once per key.
 */
function objectCoalescer(namespace: CoalescerNamespace, apiKey: string, unreachable: (error: unknown, apiKey: string) => void): Submitter {
  return {
    async submit(parcels, options) {
      try {
        const stub = namespace.getByName(await nameOf(apiKey))
        return await stub.submit([...parcels], options)
      } catch (error) {
        // Overloaded, reset by a deploy, or unreachable: the engagements stay with the client.
        unreachable(error, apiKey)
        return { kind: 'busy', retryAfterMs: OBJECT_RETRY_AFTER_MS, reason: 'the coalescing Durable Object could not be reached' }
      }
    },
  }
}

/** The last key named, so the digest is computed once per isolate, not once per request. */
let named: { apiKey: string; name: string } | undefined

async function nameOf(apiKey: string): Promise<string> {
  if (named?.apiKey === apiKey) return named.name
  const name = await coalescerName(apiKey)
  named = { apiKey, name }
  return name
}

/**
 * Pacing and de-duplication for one isolate. A Worker may not touch, in one client request, a
 * fetch another request started: so each request gets a Coalescer of its own, sending only its
 * engagements, while the pacer and the memory of acknowledged ids are the isolate's.
 */
function perRequestCoalescer(apiKey: string, upstreamUrl: string, maxRequestsPerSecond: number): Submitter {
  const pacer = createCoalescerPacer({ maxRequestsPerSecond })
  const memory = createMemory()
  return {
    async submit(parcels, options) {
      const coalescer = createConversionCoalescer({ apiKey, upstreamUrl, maxRequestsPerSecond, pacer, memory })
      try {
        return await coalescer.submit(parcels, options)
      } finally {
        coalescer.close()
      }
    },
  }
}

export default createWorker()
