/**
 * The proxy: one Web-standard fetch handler that holds the Conversion API key. Browsers send it
 * batches; it checks them as if nothing from the browser could be trusted, cheapest checks first
 * (path, origin, method, the client's guard, content type, the intake budget, the body's size),
 * and forwards what passes through the Coalescer, answering each request once ITS engagements
 * are settled upstream.
 */
import type { Coalescer, CoalescerStats, SubmitResult } from '../core/coalescer/index.js'
import { lengthOf } from '../core/body.js'
import { createConversionCoalescer } from './conversion-coalescer.js'
import { corsHeaders, preflight } from './cors.js'
import { requestExchange, type Exchange } from './exchange.js'
import { createMemoryGuard, type ClientGuard } from './guard.js'
import { createIdentityVerifier } from './identity.js'
import { takeIn, type IdentityVerifier } from './intake.js'
import { FieldChecks } from './intake/index.js'
import { createIntakeBudget } from './intake-budget.js'
import { resolveProxyOptions, type ProxyOptions, type ProxySettings } from './options.js'
import { matchOrigin } from './origins.js'
import { answer, retryLater, settledReply, settlement, toResponse, toWire, type Reply, type WireAnswer } from './responses.js'
import { scrub } from './upstream.js'

/** The proxy, as Workers, Deno, Bun and route handlers of Next.js, Remix or SvelteKit expect it. */
export interface Proxy {
  /** Answers one request. `env` and `ctx` are the host's (Workers bindings, or the Node host's client address). */
  fetch(request: Request, env?: unknown, ctx?: unknown): Promise<Response>
  /**
   * Answers one request read without a Web `Request` (the Node host reads them so): the same
   * checks and answers as `fetch`, as the status, headers and text to send. Never rejects.
   */
  answer(exchange: Exchange): Promise<WireAnswer>
  /** The in-process Coalescer's state (undefined when engagements go to an injected one). */
  stats(): CoalescerStats | undefined
  /** Stops the in-process Coalescer's timers. */
  close(): void
}

const ACCEPTED_TYPES = /^(application\/json|text\/plain)\s*(;|$)/i
/** How long a client refused for the intake budget waits: bodies are read in well under a second. */
const INTAKE_RETRY_MS = 1_000

/**
 * Creates the proxy. Nothing is sent until a request comes.
 * @example
 * const proxy = createProxy({ apiKey: env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * export default { fetch: proxy.fetch }
 */
export function createProxy(options: ProxyOptions): Proxy {
  const settings = resolveProxyOptions(options)
  const guard: ClientGuard | undefined =
    settings.guard ?? (settings.clientRateLimit ? createMemoryGuard({ ...settings.clientRateLimit, now: settings.now }) : undefined)
  const local = settings.coalescer ? undefined : createLocalCoalescer(settings)
  const coalescer = settings.coalescer ?? (local as Coalescer)
  const intake = createIntakeBudget({ maxBytes: settings.maxIntakeBytes, clientShare: settings.clientShare })
  const warn = throttledWarning(settings)
  const verify: IdentityVerifier | undefined = settings.identitySecret ? createIdentityVerifier(settings.identitySecret) : undefined
  // Bodies are read one at a time (the reading is synchronous), so one set of checks serves them all.
  const checks = new FieldChecks()

  /** Reads and sorts out one body; the body's text is out of reach once this returns. */
  const readAndSort = async (exchange: Exchange, client: string | undefined, cors: Record<string, string>) => {
    const reserved = Math.min(lengthOf(exchange.header('content-length')) ?? settings.maxBodyBytes, settings.maxBodyBytes)
    const over = intake.take(client, reserved)
    if (over) {
      const message =
        over === 'client' ? 'too many request bodies from this client at once' : 'the proxy is reading too many request bodies at once'
      return retryLater(over === 'client' ? 429 : 503, message, INTAKE_RETRY_MS, cors)
    }
    try {
      const body = await exchange.readBody(settings.maxBodyBytes)
      if (!body.ok) return answer(body.status, { message: body.message }, cors)
      return await takeIn(body.text, { allowedTypes: settings.allowedTypes, verify, sha256: settings.sha256, now: settings.now(), checks })
    } finally {
      intake.give(client, reserved)
    }
  }

  const handle = async (exchange: Exchange): Promise<Reply | WireAnswer> => {
    if (exchange.path !== settings.path) return answer(404, { message: 'not found' })

    const header = exchange.header('origin')
    if (!header) return answer(403, { message: 'requests must come from a browser page of an allowed origin (no Origin header)' })
    const origin = matchOrigin(settings.allowedOrigins, header)
    // The header is quoted back as JSON, never as a header: a client reads only what it sent.
    if (!origin) return answer(403, { message: `origin ${header.slice(0, 300)} is not allowed` })
    const cors = corsHeaders(origin)
    if (exchange.method === 'OPTIONS') return wireOf(preflight(origin))
    if (exchange.method !== 'POST') return answer(405, { message: 'only POST is allowed' }, { ...cors, allow: 'POST, OPTIONS' })

    const client = exchange.client()
    if (client !== undefined && guard) {
      // The in-memory guard answers at once: no turn of the event loop for it.
      const asked = guard.request(client)
      const verdict = asked instanceof Promise ? await asked : asked
      if (!verdict.allowed) return retryLater(429, 'too many requests from this client', verdict.retryAfterMs, cors)
    }
    if (!ACCEPTED_TYPES.test(exchange.header('content-type') ?? '')) {
      return answer(415, { message: 'content-type must be application/json (or text/plain for beacons)' }, cors)
    }

    const sorted = await readAndSort(exchange, client, cors)
    if ('status' in sorted) return sorted
    if (!sorted.ok) return answer(400, { message: sorted.message }, cors)
    if (client !== undefined && guard?.engagements) {
      const verdict = guard.engagements(client, sorted.count)
      if (!verdict.allowed) return retryLater(429, 'too many engagements from this client', verdict.retryAfterMs, cors)
    }
    if (sorted.parcels.length === 0) return answer(200, settlement(0, 0, sorted.rejected), cors)
    const result: SubmitResult = await coalescer.submit(sorted.parcels, { client, deadlineMs: settings.settleTimeout })
    if (result.kind === 'unavailable') warn(result.reason)
    return settledReply(result, sorted.rejected, cors)
  }

  const answerExchange = async (exchange: Exchange): Promise<WireAnswer> => {
    let reply: Reply | WireAnswer
    try {
      reply = await handle(exchange)
    } catch (error) {
      settings.logger.error('[conversion-engagements] proxy failure:', scrub(String(error), settings.apiKey))
      reply = answer(500, { message: 'the proxy failed; the engagements were not forwarded' })
    }
    // Only a preflight is ready as it is: it alone has no body.
    return reply.body === null ? (reply as WireAnswer) : toWire(reply as Reply, settings.apiKey)
  }

  return {
    fetch: async (request, env) => toResponse(await answerExchange(requestExchange(request, () => settings.clientKey(request, env)))),
    answer: answerExchange,
    stats: () => local?.stats(),
    close: () => local?.close(),
  }
}

/** A Response without a body (the preflight's), as a wire answer. */
function wireOf(response: Response): WireAnswer {
  return { status: response.status, headers: Object.fromEntries(response.headers), body: null }
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
    maxBatchBytes: settings.maxBatchBytes,
    maxHeldBytes: settings.maxHeldBytes,
    clientShare: settings.clientShare,
    isolationBudget: settings.isolationBudget,
    deadlineMs: settings.settleTimeout,
    retry: settings.retry,
    ...(settings.memory ? { memory: settings.memory } : {}),
    ...(settings.pacer ? { pacer: settings.pacer } : {}),
  })
}

/** Logs why Conversion is unavailable, at most once a minute per reason, so an outage does not flood the logs. */
function throttledWarning(settings: ProxySettings): (reason: string) => void {
  const lastLogged = new Map<string, number>()
  return (reason) => {
    const now = settings.now()
    if (now - (lastLogged.get(reason) ?? -Infinity) < 60_000) return
    lastLogged.set(reason, now)
    settings.logger.error(
      `[conversion-engagements] Conversion refuses this proxy: ${scrub(reason, settings.apiKey)}. Engagements stay in the browsers and are re-sent.`,
    )
  }
}
