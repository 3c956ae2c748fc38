/**
 * The proxy as a Cloudflare Worker. Configuration comes from bindings: the secret
 * `CONVERSION_API_KEY` (`npx wrangler secret put CONVERSION_API_KEY`) and plain vars for the
 * rest (see `WorkerEnv`); `wrangler.jsonc` at the package root deploys it with `npx wrangler deploy`.
 */
import { LIMITS } from '../contract.js'
import { createAcknowledgedIds } from '../core/acknowledged.js'
import { createCoalescer, type Coalescer } from '../core/coalescer.js'
import { createPacer } from '../core/pacer.js'
import { bindingGuard, type RateLimitBinding } from './guard.js'
import { createProxy, type Proxy } from './proxy.js'
import { createUpstream } from './upstream.js'

/** The bindings the Worker reads. Lists are comma-separated. */
export interface WorkerEnv {
  /** Secret: your Conversion API key. */
  CONVERSION_API_KEY: string
  /** Origins allowed to send, such as `https://app.example.com,https://*.preview.example.com`. */
  ALLOWED_ORIGINS: string
  /** Where the proxy answers. Default `/api/relay`. */
  PROXY_PATH?: string
  /** Conversion's API base. Default `https://pub-api.conversion.ai/api`. */
  CONVERSION_API_URL?: string
  /** Secret: verify identity signatures made with it (see `signIdentity`). */
  IDENTITY_SECRET?: string
  /** Engagement types accepted; others are rejected. */
  ALLOWED_TYPES?: string
  /** Upstream request starts per second, 1 to 10. */
  MAX_REQUESTS_PER_SECOND?: string
  /** Cloudflare's rate-limiting binding, for the per-client limit. */
  CLIENT_RATE_LIMITER?: RateLimitBinding
  /** The period configured for `CLIENT_RATE_LIMITER`, in seconds (10 or 60), for `Retry-After`. Default `10`. */
  CLIENT_RATE_LIMIT_PERIOD?: string
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

/**
 * One proxy per isolate and configuration, kept between requests: its Coalescer paces and
 * de-duplicates across them. (The `env` object itself is not promised to be the same each time.)
 */
const proxies = new Map<string, Proxy>()
let warnedPerIsolate = false

function proxyFor(env: WorkerEnv): Proxy {
  const configuration = [
    env.CONVERSION_API_KEY,
    env.ALLOWED_ORIGINS,
    env.PROXY_PATH,
    env.CONVERSION_API_URL,
    env.IDENTITY_SECRET,
    env.ALLOWED_TYPES,
    env.MAX_REQUESTS_PER_SECOND,
  ].join('\n')
  let proxy = proxies.get(configuration)
  if (proxy) return proxy
  if (!warnedPerIsolate) {
    warnedPerIsolate = true
    console.warn(
      '[conversion-engagements] pacing and de-duplication are per isolate: with traffic on many isolates, Conversion\'s 10 requests per second per key is not guaranteed',
    )
  }
  const rate = Number(env.MAX_REQUESTS_PER_SECOND)
  const types = list(env.ALLOWED_TYPES)
  const upstreamUrl = env.CONVERSION_API_URL || 'https://pub-api.conversion.ai/api'
  proxy = createProxy({
    coalescer: perRequestCoalescer(env.CONVERSION_API_KEY, upstreamUrl, rate > 0 ? Math.min(rate, LIMITS.requestsPerSecond) : LIMITS.requestsPerSecond),
    apiKey: env.CONVERSION_API_KEY,
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    ...(env.PROXY_PATH ? { path: env.PROXY_PATH } : {}),
    ...(env.CONVERSION_API_URL ? { upstreamUrl: env.CONVERSION_API_URL } : {}),
    ...(env.IDENTITY_SECRET ? { identitySecret: env.IDENTITY_SECRET } : {}),
    ...(types.length > 0 ? { allowedTypes: types } : {}),
    ...(rate > 0 ? { maxRequestsPerSecond: rate } : {}),
    // Set by Cloudflare's edge: clients cannot choose it.
    clientKey: (request) => request.headers.get('cf-connecting-ip') ?? undefined,
    ...(env.CLIENT_RATE_LIMITER
      ? { guard: bindingGuard(env.CLIENT_RATE_LIMITER, (Number(env.CLIENT_RATE_LIMIT_PERIOD) || 10) * 1000) }
      : {}),
  })
  proxies.set(configuration, proxy)
  return proxy
}

/**
 * Pacing and de-duplication for one isolate. A Worker may not touch, in one client request, a
 * fetch another request started: so each request gets a Coalescer of its own, sending only its
 * engagements, while the pacer and the memory of acknowledged ids are the isolate's.
 */
function perRequestCoalescer(apiKey: string, upstreamUrl: string, maxRequestsPerSecond: number): Pick<Coalescer, 'submit'> {
  const now = () => Date.now()
  const pacer = createPacer({ limit: maxRequestsPerSecond, windowMs: 1_005 })
  const acknowledged = createAcknowledgedIds({ now })
  const send = createUpstream({ apiKey, upstreamUrl, timeoutMs: 10_000, fetch: (input, init) => fetch(input, init), now })
  return {
    async submit(engagements, deadlineMs) {
      const coalescer = createCoalescer({
        send,
        clock: { now, setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle as number) },
        random: Math.random,
        maxRequestsPerSecond,
        pacer,
        acknowledged,
      })
      try {
        return await coalescer.submit(engagements, deadlineMs)
      } finally {
        coalescer.close()
      }
    },
  }
}

export default {
  fetch(request: Request, env: WorkerEnv): Promise<Response> {
    return proxyFor(env).fetch(request, env)
  },
}
