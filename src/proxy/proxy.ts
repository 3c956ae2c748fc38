/**
 * The proxy: one Web-standard fetch handler that holds the Conversion API key. Browsers send it
 * batches; it checks them as if nothing from the browser could be trusted, and forwards what
 * passes through the Coalescer, answering each request once ITS engagements are settled upstream.
 */
import { checkEngagement, type ClientRequest, type Engagement, type Settlement } from '../contract.js'
import type { Coalescer, CoalescerStats, SubmitResult } from '../core/coalescer.js'
import { clientRequestSchema, firstViolation } from '../schemas.js'
import { readBodyText } from '../core/body.js'
import { createConversionCoalescer } from './conversion-coalescer.js'
import { corsHeaders, originMatcher, preflight } from './cors.js'
import { createMemoryGuard } from './guard.js'
import { createIdentityVerifier } from './identity.js'
import { resolveProxyOptions, type ProxyOptions, type ProxySettings } from './options.js'
import { scrub } from './upstream.js'

/** The proxy, as Workers, Deno, Bun and route handlers of Next.js, Remix or SvelteKit expect it. */
export interface Proxy {
  /** Answers one request. `env` and `ctx` are the host's (Workers bindings, or the Node host's client address). */
  fetch(request: Request, env?: unknown, ctx?: unknown): Promise<Response>
  /** The in-process Coalescer's state (undefined when engagements go to an injected one). */
  stats(): CoalescerStats | undefined
  /** Stops the in-process Coalescer's timers. */
  close(): void
}

const ACCEPTED_TYPES = /^(application\/json|text\/plain)\s*(;|$)/i

/**
 * Creates the proxy. Nothing is sent until a request comes.
 * @example
 * const proxy = createProxy({ apiKey: env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * export default { fetch: proxy.fetch }
 */
export function createProxy(options: ProxyOptions): Proxy {
  const settings = resolveProxyOptions(options)
  const isAllowedOrigin = originMatcher(settings.allowedOrigins)
  const guard =
    settings.guard ??
    (settings.clientRateLimit ? createMemoryGuard({ ...settings.clientRateLimit, now: settings.now }) : undefined)
  const local = settings.coalescer ? undefined : createLocalCoalescer(settings)
  const coalescer = settings.coalescer ?? (local as Coalescer)
  const warn = throttledWarning(settings)
  const verify = settings.identitySecret ? createIdentityVerifier(settings.identitySecret) : undefined

  const handle = async (request: Request, env: unknown): Promise<Reply | Response> => {
    if (new URL(request.url).pathname !== settings.path) return answer(404, { message: 'not found' })

    const origin = request.headers.get('origin')
    if (!origin) return answer(403, { message: 'requests must come from a browser page of an allowed origin (no Origin header)' })
    if (!isAllowedOrigin(origin)) return answer(403, { message: `origin ${origin} is not allowed` }, { vary: 'Origin' })
    const cors = corsHeaders(origin)
    if (request.method === 'OPTIONS') return preflight(origin)
    if (request.method !== 'POST') return answer(405, { message: 'only POST is allowed' }, { ...cors, allow: 'POST, OPTIONS' })

    const client = settings.clientKey(request, env)
    if (client !== undefined && guard) {
      const verdict = await guard(client)
      if (!verdict.allowed) return retryLater(429, 'too many requests from this client', verdict.retryAfterMs, cors)
    }

    if (!ACCEPTED_TYPES.test(request.headers.get('content-type') ?? '')) {
      return answer(415, { message: 'content-type must be application/json (or text/plain for beacons)' }, cors)
    }
    const body = await readBodyText(request, settings.maxBodyBytes)
    if (!body.ok) return answer(body.status, { message: body.message }, cors)
    let value: unknown
    try {
      value = JSON.parse(body.text)
    } catch {
      // The parser's own message would quote the body back.
      return answer(400, { message: 'request body must be JSON: it could not be parsed' }, cors)
    }
    const violation = firstViolation(clientRequestSchema, value, 'body')
    if (violation) return answer(400, { message: violation.message }, cors)

    const { valid, rejected } = await sortOut(value as ClientRequest, settings, verify)
    if (valid.length === 0) return answer(200, settlement(0, 0, rejected), cors)
    const result = await coalescer.submit(valid, settings.settleTimeout)
    return respond(result, rejected, cors, warn)
  }

  return {
    fetch: async (request, env) => {
      let reply: Reply | Response
      try {
        reply = await handle(request, env)
      } catch (error) {
        settings.logger.error('[conversion-engagements] proxy failure:', scrub(String(error), settings.apiKey))
        reply = answer(500, { message: 'the proxy failed; the engagements were not forwarded' })
      }
      // A preflight has no body.
      return reply instanceof Response ? reply : toResponse(reply, settings.apiKey)
    },
    stats: () => local?.stats(),
    close: () => local?.close(),
  }
}

/** Splits a request's engagements into those to forward and those refused, each with its reason. */
async function sortOut(request: ClientRequest, settings: ProxySettings, verify: ReturnType<typeof createIdentityVerifier> | undefined) {
  const valid: Engagement[] = []
  const rejected: Settlement['rejected'] = []
  const verified = new Map<string, Promise<boolean>>()
  const now = settings.now()
  for (const [index, item] of (request.batch as unknown[]).entries()) {
    const id = idOf(item, index)
    const violation = checkEngagement(item)
    if (violation) {
      rejected.push({ id, reason: violation.message })
      continue
    }
    const engagement = item as Engagement
    if (settings.allowedTypes && !settings.allowedTypes.has(engagement.type)) {
      rejected.push({ id, reason: `type ${JSON.stringify(engagement.type)} is not allowed by this proxy` })
      continue
    }
    if (verify) {
      const email = engagement.contactEmail
      let check = verified.get(email)
      if (!check) {
        check = verify(email, request.identity?.[email], now)
        verified.set(email, check)
      }
      if (!(await check)) {
        rejected.push({ id, reason: `contactEmail needs a valid identity signature (identity["${email}"] is missing, forged or expired)` })
        continue
      }
    }
    valid.push(engagement)
  }
  return { valid, rejected }
}

/** The id to report a refused item under: its own when it has a usable one, else its position. */
function idOf(item: unknown, index: number): string {
  const id = (item as { id?: unknown } | null)?.id
  return typeof id === 'string' && id !== '' && id.length <= 128 ? id : `batch[${index}]`
}

function respond(result: SubmitResult, refused: Settlement['rejected'], cors: Record<string, string>, warn: (reason: string) => void): Reply {
  switch (result.kind) {
    case 'settled':
      return answer(200, settlement(result.accepted, result.duplicates, [...refused, ...result.rejected]), cors)
    case 'busy':
      return retryLater(503, `not settled in time (${result.reason}); send again later`, result.retryAfterMs, cors)
    case 'unavailable':
      warn(result.reason)
      return retryLater(503, 'Conversion cannot be reached with this proxy now; send again later', result.retryAfterMs, cors)
  }
}

/** An answer with a JSON body, before it becomes a Response. */
interface Reply {
  status: number
  body: unknown
  headers: Record<string, string>
}

/**
 * The key can only reach an answer through something a client sent back to itself (an id, an
 * origin), but an answer is cheap to check, so none leaves with it, however it got there.
 */
function toResponse({ status, body, headers }: Reply, apiKey: string): Response {
  return new Response(scrub(JSON.stringify(body), apiKey), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  })
}

function settlement(accepted: number, duplicates: number, rejected: Settlement['rejected']): Settlement {
  return { accepted, duplicates, rejected }
}

function retryLater(status: 429 | 503, message: string, retryAfterMs: number, headers: Record<string, string>): Reply {
  return answer(status, { message }, { ...headers, 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) })
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body, headers }
}

function createLocalCoalescer(settings: ProxySettings): Coalescer {
  return createConversionCoalescer({
    apiKey: settings.apiKey,
    upstreamUrl: settings.upstreamUrl,
    upstreamTimeout: settings.upstreamTimeout,
    fetch: settings.fetch,
    now: settings.now,
    random: settings.random,
    maxRequestsPerSecond: settings.maxRequestsPerSecond,
    deadlineMs: settings.settleTimeout,
    retry: settings.retry,
    ...(settings.acknowledged ? { acknowledged: settings.acknowledged } : {}),
  })
}

/** Logs why Conversion is unavailable, at most once a minute per reason, so an outage does not flood the logs. */
function throttledWarning(settings: ProxySettings): (reason: string) => void {
  const lastLogged = new Map<string, number>()
  return (reason) => {
    const now = settings.now()
    if (now - (lastLogged.get(reason) ?? -Infinity) < 60_000) return
    lastLogged.set(reason, now)
    settings.logger.error(`[conversion-engagements] Conversion refuses this proxy: ${scrub(reason, settings.apiKey)}. Engagements stay in the browsers and are re-sent.`)
  }
}
