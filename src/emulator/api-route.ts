import type { Engagement } from '../contract.js'
import { firstViolation, upstreamRequestSchema } from '../schemas.js'
import { createKeyCheck, createRedactor } from './api-key.js'
import { declaredLength, readBodyText } from '../core/body.js'
import { refusedEngagement, strikes } from './faults.js'
import { errorResponse, isJsonContentType, jsonResponse } from './responses.js'
import type { Settings } from './settings.js'
import type { EmulatorState, OpenLogEntry } from './state.js'
import { waitForAbort } from './timing.js'
import type { Faults } from './types.js'

/** Where Conversion serves its API; every API route lies under it. */
export const API_BASE_PATH = '/api'
/** The one API route: `POST` engagements in batches. */
export const BATCH_PATH = `${API_BASE_PATH}/v1/activities/batch`

/** The answer to give, and the engagements to record if it is given. */
interface Verdict {
  response: Response
  accepted: readonly Engagement[]
}

const refuse = (status: number, message: string, headers?: Record<string, string>): Verdict => ({
  response: errorResponse(status, message, headers),
  accepted: [],
})

/** The handler of every path outside `/__emulator/`: Conversion's API, strictly. */
export function createApiRoute(settings: Settings, state: EmulatorState) {
  const isRightKey = createKeyCheck(settings.apiKey)
  const redact = createRedactor(settings.apiKey)
  const { maxRequestsPerSecond, windowMs } = settings
  const rateMessage = `Too many requests: at most ${maxRequestsPerSecond} requests in any ${windowMs} ms per API key`

  const tooMany = (faults: Faults, message: string): Verdict =>
    refuse(429, message, faults.retryAfterSeconds === null ? {} : { 'retry-after': String(faults.retryAfterSeconds) })

  // Everything before the first `await` runs in the same tick as the request's arrival, so
  // starts reach the rate check in arrival order, as the sliding window needs.
  async function decide(request: Request, url: URL, entry: OpenLogEntry, faults: Faults): Promise<Verdict> {
    if (url.pathname !== BATCH_PATH) return refuse(404, `No route here: the API is POST ${BATCH_PATH}`)
    if (request.method !== 'POST') return refuse(405, 'Method not allowed: use POST', { allow: 'POST' })
    const key = request.headers.get('x-api-key')
    if (key === null) return refuse(401, 'Missing X-API-Key header')
    if (!isRightKey(key)) return refuse(401, 'Invalid API key')

    const admission = state.admit(entry.at)
    if (admission === 'storm') {
      entry.fault = 'storm'
      return tooMany(faults, 'Too many requests (emulated rate-limit storm)')
    }
    if (admission === 'limited') return tooMany(faults, rateMessage)
    if (strikes(faults.hangRate, settings.random)) {
      entry.fault = 'hang'
      return waitForAbort(request.signal)
    }
    if (strikes(faults.errorRate, settings.random)) {
      entry.fault = 'error'
      return refuse(500, 'Internal server error (emulated fault)')
    }
    return readBatch(request, entry, faults)
  }

  async function readBatch(request: Request, entry: OpenLogEntry, faults: Faults): Promise<Verdict> {
    // Not documented upstream; a strict receiver refuses a body it was not told is JSON.
    if (!isJsonContentType(request.headers.get('content-type'))) {
      return refuse(400, 'Content-Type must be application/json')
    }
    const body = await readBodyText(request, settings.maxBodyBytes)
    entry.bytes = body.bytes
    if (!body.ok) return refuse(body.status, body.message)

    let value: unknown
    try {
      value = JSON.parse(body.text)
    } catch {
      // The parser's own message quotes the body, which could hold anything, the key included.
      const empty = body.text.trim() === ''
      return refuse(400, empty ? 'request body is empty: expected JSON' : 'request body must be JSON: it could not be parsed')
    }

    const batch = (value as { batch?: unknown } | null)?.batch
    if (Array.isArray(batch)) {
      entry.count = batch.length
      // The schema holds Conversion's 200; an emulator set lower says so in the same words.
      if (batch.length > settings.maxBatchSize) {
        return refuse(400, `batch must be at most ${settings.maxBatchSize} engagements (it has ${batch.length})`)
      }
    }
    const violation = firstViolation(upstreamRequestSchema, value, 'body')
    if (violation) return refuse(400, redact(violation.message))
    const accepted = (value as { batch: Engagement[] }).batch
    const refused = refusedEngagement(faults, accepted)
    if (refused) {
      entry.fault = 'reject'
      return refuse(400, redact(`batch[${refused.index}].type ${JSON.stringify(refused.type)} is refused (emulated fault)`))
    }
    return { response: jsonResponse(200, { accepted: accepted.length }), accepted }
  }

  return async function answer(request: Request, url: URL): Promise<Response> {
    const at = settings.now()
    const entry = state.arrive(at, request.method, redact(url.pathname))
    entry.bytes = declaredLength(request) ?? 0
    const faults = state.faults()
    const signal = request.signal
    try {
      const verdict = await decide(request, url, entry, faults)
      if (faults.latencyMs > 0) await settings.sleep(faults.latencyMs, signal)
      // An answer the client can no longer receive must not record anything.
      signal.throwIfAborted()
      state.accept(entry, verdict.accepted)
      entry.status = verdict.response.status
      return verdict.response
    } finally {
      entry.durationMs = settings.now() - at
    }
  }
}
