/** The deadline for a request's body on Node: a slow body gets 408, which the page can read. */
import type { NodeHandler } from './serve.js'
import { baseHeaders, corsHeaders } from '../../proxy/cors.js'
import { matchOrigin, type AllowedOrigins } from '../../proxy/origins.js'

/**
 * Answers 408 to a request whose body is still arriving `timeoutMs` after the request did. The
 * handler may still be reading it: the answer closes the connection, which ends that read.
 */
export function withBodyDeadline(handler: NodeHandler, timeoutMs: number, allowed: AllowedOrigins): NodeHandler {
  return async (request, client) => {
    const { incoming } = client
    if (incoming.complete) return handler(request, client)
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<Response>((resolve) => {
      timer = setTimeout(() => resolve(tooSlow(request, timeoutMs, allowed)), timeoutMs)
    })
    // Once the whole body is in, the request may take as long as settling it takes.
    const received = () => clearTimeout(timer)
    incoming.once('end', received)
    try {
      return await Promise.race([handler(request, client), late])
    } finally {
      clearTimeout(timer)
      incoming.off('end', received)
    }
  }
}

function tooSlow(request: Request, timeoutMs: number, allowed: AllowedOrigins): Response {
  const origin = matchOrigin(allowed, request.headers.get('origin'))
  return new Response(JSON.stringify({ message: `the request body must arrive within ${timeoutMs} ms; send it again` }), {
    status: 408,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      connection: 'close',
      ...(origin === undefined ? baseHeaders() : corsHeaders(origin)),
    },
  })
}
