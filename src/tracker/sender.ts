import { isSettlement, type Settlement } from '../contract.js'
import { classify, unanswered, type Failure } from '../core/outcome.js'
import type { ResolvedOptions } from './options.js'

/** What became of one fetch: the outcome class, with the settlement when the proxy gave one. */
export type SendResult = { kind: 'ok'; settlement: Settlement } | Failure

/** The two ways to reach the proxy. */
export interface Sender {
  /** POSTs `body` as JSON and classifies the answer. Never rejects. */
  send(body: string): Promise<SendResult>
  /**
   * Hands `body` to the browser to deliver even if the page goes away: `sendBeacon`, else a
   * keepalive fetch. Both send a string as `text/plain;charset=UTF-8` (no CORS preflight), as
   * the Fetch standard types a string body. False when the browser refused it.
   */
  beacon(body: string): boolean
}

export function createSender({ endpoint, requestTimeout: timeoutMs, platform }: ResolvedOptions): Sender {
  return {
    async send(body) {
      const controller = new AbortController()
      const timer = platform.setTimeout(() => controller.abort(), timeoutMs)
      try {
        const response = await platform.fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          credentials: 'omit',
          signal: controller.signal,
        })
        // Not JSON, or cut off: no message, and no settlement; the status decides.
        const json: { message?: unknown } | undefined = await response.json().catch(() => undefined)
        const outcome = classify({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          message: typeof json?.message === 'string' ? json.message : undefined,
          now: platform.now(),
        })
        if (outcome.kind !== 'ok') return outcome
        return isSettlement(json) ? { kind: 'ok', settlement: json } : unanswered(`HTTP ${response.status} without a settlement body`)
      } catch {
        return unanswered(controller.signal.aborted ? `no answer within ${timeoutMs} ms` : 'network error')
      } finally {
        platform.clearTimeout(timer)
      }
    },

    beacon(body) {
      try {
        if (platform.sendBeacon) return platform.sendBeacon(endpoint, body)
        platform.fetch(endpoint, { method: 'POST', body, keepalive: true, credentials: 'omit' }).catch(() => undefined)
        return true
      } catch {
        return false
      }
    },
  }
}
