/**
 * The door of the Node proxy: counts the requests being answered, so that a graceful stop can
 * wait for them, and once closing, turns new ones away with 503 and `Retry-After` (the browser
 * keeps its engagements and sends them again, to another replica or after the restart).
 */
import { countInFlight } from './in-flight.js'
import type { ExchangeHandler, NodeExchange } from './node-exchange.js'
import { baseHeaders, corsHeaders } from '../../proxy/cors.js'
import { matchOrigin, type AllowedOrigins } from '../../proxy/origins.js'
import type { WireAnswer } from '../../proxy/responses.js'

/** The gate around a handler. */
export interface RequestGate {
  handler: ExchangeHandler
  /** Requests being answered now. */
  readonly inFlight: number
  readonly closing: boolean
  /** Turns every later request away; those in flight go on. */
  close(): void
  /** Resolves once no request is in flight, and those answered while closing have closed their connection (at once when none is). */
  idle(): Promise<void>
}

/** How long a client turned away at a stop waits before it sends again, in seconds. */
const RETRY_AFTER_SECONDS = 1

/** Wraps `handler`; `onAnswer` hears the status of every answer, turned-away ones included. */
export function gateRequests(
  handler: ExchangeHandler,
  allowed: AllowedOrigins,
  onAnswer: (status: number) => void = () => {},
): RequestGate {
  const answering = countInFlight()
  let closing = false
  return {
    async handler(exchange) {
      if (closing) {
        const refused = shuttingDown(exchange, allowed)
        onAnswer(refused.status)
        return refused
      }
      answering.start()
      let answer: WireAnswer
      try {
        answer = await handler(exchange)
      } catch (error) {
        answering.end()
        throw error
      }
      onAnswer(answer.status)
      if (!closing) {
        answering.end()
        return answer
      }
      // Once closing, the connection closes after this answer, and the request counts until it
      // has: the server is closed only then, so a stop never cuts an answer short.
      const { socket } = exchange.incoming
      if (socket.destroyed) answering.end()
      else socket.once('close', answering.end)
      return { ...answer, headers: { ...answer.headers, connection: 'close' } }
    },
    get inFlight() {
      return answering.count
    },
    get closing() {
      return closing
    },
    close() {
      closing = true
    },
    idle: answering.idle,
  }
}

function shuttingDown(exchange: NodeExchange, allowed: AllowedOrigins): WireAnswer {
  const origin = matchOrigin(allowed, exchange.header('origin'))
  return {
    status: 503,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'retry-after': String(RETRY_AFTER_SECONDS),
      // The client's next request opens a new connection, which a load balancer sends elsewhere.
      connection: 'close',
      ...(origin === undefined ? baseHeaders() : corsHeaders(origin)),
    },
    body: JSON.stringify({ message: 'the proxy is shutting down; send again' }),
  }
}
