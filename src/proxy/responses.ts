/** The proxy's answers: JSON bodies, the headers every answer carries, and the key kept out of all of them. */
import type { Settlement } from '../contract.js'
import type { Refusal, SubmitResult } from '../core/coalescer/index.js'
import { baseHeaders } from './cors.js'
import { scrub } from './upstream.js'

/** An answer with a JSON body, before it becomes a Response. */
export interface Reply {
  status: number
  body: unknown
  headers: Record<string, string>
}

export function answer(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body, headers }
}

export function settlement(accepted: number, duplicates: number, rejected: Settlement['rejected']): Settlement {
  return { accepted, duplicates, rejected }
}

/** 429 or 503 with a `Retry-After` of at least one second. */
export function retryLater(status: 429 | 503, message: string, retryAfterMs: number, headers: Record<string, string>): Reply {
  return answer(status, { message }, { ...headers, 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) })
}

/** The answer to a client request from what the Coalescer said, with the engagements refused at the door. */
export function settledReply(result: SubmitResult, refused: Settlement['rejected'], headers: Record<string, string>): Reply {
  switch (result.kind) {
    case 'settled':
      return answer(200, settlement(result.accepted, result.duplicates, [...refused, ...result.rejected]), headers)
    case 'throttled':
      return retryLater(429, `too much from this client (${result.reason}); send again later`, result.retryAfterMs, headers)
    case 'busy':
      return retryLater(503, `not settled in time (${result.reason}); send again later`, result.retryAfterMs, headers)
    case 'unavailable':
      return retryLater(503, 'Conversion cannot be reached with this proxy now; send again later', result.retryAfterMs, headers)
  }
}

/** Whether a submit's answer says Conversion refuses the proxy (worth an operator's attention). */
export const isUnavailable = (result: SubmitResult): result is Refusal & { kind: 'unavailable' } => result.kind === 'unavailable'

/** An answer as it goes on the wire: its status, every header, and its body's text (null: none). */
export interface WireAnswer {
  status: number
  headers: Record<string, string>
  body: string | null
}

/**
 * The answer as it is sent. The key can only reach an answer through something a client sent
 * back to itself (an id, an origin), but an answer is cheap to check, so none leaves with it,
 * however it got there.
 */
export function toWire({ status, body, headers }: Reply, apiKey: string): WireAnswer {
  const text = JSON.stringify(body)
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...baseHeaders(), ...headers },
    body: text.includes(apiKey) ? (scrub(text, apiKey) as string) : text,
  }
}

/** The answer as a Web `Response`. */
export function toResponse({ status, headers, body }: WireAnswer): Response {
  return new Response(body, { status, headers })
}
