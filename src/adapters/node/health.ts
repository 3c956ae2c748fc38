/**
 * Health checks on the proxy's own port, answered before the proxy's path and origin checks (a
 * load balancer or an orchestrator sends no `Origin`):
 * - `GET /healthz`: 200 while the process serves (liveness);
 * - `GET /readyz`: 200 only while the proxy can forward (readiness), else 503 with the reason.
 */
import type { ExchangeHandler } from './node-exchange.js'
import { baseHeaders } from '../../proxy/cors.js'
import type { WireAnswer } from '../../proxy/responses.js'

export const LIVENESS_PATH = '/healthz'
export const READINESS_PATH = '/readyz'

/** Whether the proxy can forward now, and if not, why. */
export type Readiness = { ready: true } | { ready: false; reason: string }

/** Answers the health checks; every other request goes to `handler`. */
export function withHealthChecks(handler: ExchangeHandler, readiness: () => Readiness): ExchangeHandler {
  return (exchange) => {
    if (exchange.method !== 'GET' && exchange.method !== 'HEAD') return handler(exchange)
    const { path } = exchange
    if (path === LIVENESS_PATH) return Promise.resolve(healthAnswer(200, { status: 'ok' }))
    if (path !== READINESS_PATH) return handler(exchange)
    const state = readiness()
    return Promise.resolve(
      state.ready ? healthAnswer(200, { status: 'ready' }) : healthAnswer(503, { status: 'unavailable', reason: state.reason }),
    )
  }
}

function healthAnswer(status: number, body: object): WireAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...baseHeaders() },
    body: JSON.stringify(body),
  }
}
