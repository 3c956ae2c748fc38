import type { Parcel } from '../core/coalescer/index.js'
import { batchBody } from '../core/parcel.js'
import { classify, unanswered, type Outcome } from '../core/outcome.js'

/** Where and how to reach Conversion. */
export interface UpstreamOptions {
  apiKey: string
  /** The API base, such as `https://pub-api.conversion.ai/api`; the route is appended. */
  upstreamUrl: string
  /** Abandon a request after this many ms, its answer's body included (it counts as a failure to retry). */
  timeoutMs: number
  fetch: typeof fetch
  now: () => number
}

/** The route of Conversion's batch endpoint, below the API base. */
export const BATCH_ROUTE = '/v1/activities/batch'

/**
 * The upstream client: one POST per batch, its answer classified into the outcomes the Coalescer
 * acts on. It never retries: every retry must pass the Coalescer's pacer and de-duplication, so
 * the Coalescer is the only one that retries. The key travels in `X-API-Key` and nowhere else:
 * reasons are built from the status and Conversion's message, with the key scrubbed from the
 * message in case an upstream error ever echoes it.
 *
 * Plain `fetch`, not a client library: what one would add here (retries, errors on statuses) is
 * what this client must not do, and ky copies every request body through a stream tee to be
 * ready for retries, which here never come: about 4 ms of CPU per MiB sent.
 */
export function createUpstream({ apiKey, upstreamUrl, timeoutMs, fetch, now }: UpstreamOptions) {
  const url = `${upstreamUrl.replace(/\/+$/, '')}${BATCH_ROUTE}`
  return async (batch: readonly Parcel[]): Promise<Outcome> => {
    try {
      // The engagements travel as the texts the proxy checked: joined, never parsed again.
      // One deadline for the whole exchange: headers and body.
      const response = await fetch(url, {
        method: 'POST',
        body: batchBody(batch),
        headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await response.text()
      return classify({
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        message: scrub(messageOf(text), apiKey),
        now: now(),
      })
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError'
      return unanswered(timedOut ? `Conversion did not answer within ${timeoutMs} ms` : 'Conversion could not be reached')
    }
  }
}

function messageOf(text: string): string | undefined {
  try {
    const message = (JSON.parse(text) as { message?: unknown } | null)?.message
    return typeof message === 'string' ? message.slice(0, 500) : undefined
  } catch {
    return undefined
  }
}

/** Removes every occurrence of `secret` from `text`. */
export function scrub(text: string | undefined, secret: string): string | undefined {
  return text === undefined || !secret ? text : text.split(secret).join('[redacted]')
}
