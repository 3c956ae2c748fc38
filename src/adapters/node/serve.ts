/**
 * The Node HTTP server of this package, with its limits on slow and greedy clients, serving
 * either the proxy's exchanges (read and answered straight from Node's request and response) or
 * a Web-standard fetch handler (the emulator's).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener, type HttpBindings } from '@hono/node-server'
import { handleClientErrors } from './client-errors.js'
import { capConnectionsPerAddress } from './connection-cap.js'
import { nodeExchange, writeAnswer, type ExchangeHandler, type ExchangeOptions } from './node-exchange.js'

/**
 * A Web-standard fetch handler as Node serves it (the emulator's). `client` is the socket's address, for per-client limits;
 * `incoming` gives access to headers a trusted reverse proxy adds.
 */
export type NodeHandler = (request: Request, client: { address: string | undefined; incoming: IncomingMessage }) => Promise<Response>

/** Where to listen. */
export interface ListenOptions {
  /** Port; `0` (default) takes any free one: read it from the result. */
  port?: number
  /** Interface. Default `'127.0.0.1'`: loopback only. */
  host?: string
}

/** How the server treats its connections, beyond where it listens. */
export interface ServeOptions extends ListenOptions {
  /** Deadlines and a cap on connections per client address, all checked already. Default: Node's own deadlines and no cap. */
  limits?: ConnectionLimits
  /** Headers for the bare answers to requests that cannot be read (400, 408, 413, 431). Default: none. */
  errorHeaders?: Record<string, string>
}

/** Node's deadlines, in ms (see `ServerLimitOptions` of `serveProxy`), and the cap on open connections per client address. */
export interface ConnectionLimits {
  headersTimeout: number
  requestTimeout: number
  keepAliveTimeout: number
  maxConnectionsPerClient: number | false
}

/** A running server. */
export interface RunningServer {
  /** Such as `http://127.0.0.1:43121`. */
  origin: string
  port: number
  /** Stops listening and drops every connection, idle and busy, so the process can exit. Safe to call twice. */
  close(): Promise<void>
}

/**
 * Serves the proxy: each request becomes an exchange (see `node-exchange.ts`), and its answer is
 * written with `writeHead` and `end`.
 */
export function serveExchanges(handler: ExchangeHandler, options: ServeOptions & ExchangeOptions): Promise<RunningServer> {
  return listen((incoming, outgoing) => {
    const exchange = nodeExchange(incoming, options)
    // Node's parser hands a request line without a version on as HTTP/0.9, which has no headers
    // to tell an origin by: it is a malformed HTTP/1 request here.
    if (incoming.httpVersionMajor < 1) {
      const headers = { ...options.errorHeaders, 'content-type': 'text/plain; charset=utf-8', connection: 'close' }
      return writeAnswer(exchange, outgoing, { status: 400, headers, body: 'HTTP/0.9 requests are not served\n' })
    }
    void handler(exchange).then(
      (answer) => writeAnswer(exchange, outgoing, answer),
      // A handler never rejects; should one, the client still gets an answer.
      () => writeAnswer(exchange, outgoing, { status: 500, headers: { ...options.errorHeaders }, body: '' }),
    )
  }, options)
}

/**
 * Serves a Web-standard fetch handler, through `@hono/node-server`'s listener: converting Node's
 * request and response to and from Web `Request` and `Response` has many edge cases (streamed
 * bodies, aborts when the client leaves, repeated headers, backpressure) that this small, widely
 * used listener handles. Only its listener is used, not Hono itself. The proxy is not served so:
 * that conversion costs several times what the proxy's own checks do (`serveExchanges`).
 */
export function serve(handler: NodeHandler, options: ServeOptions = {}): Promise<RunningServer> {
  // `overrideGlobalObjects: false`: serving must not replace the process's global Request and
  // Response, which the host application shares.
  const listener = getRequestListener(
    async (request, env) => {
      // A plain `node:http` server: the bindings are HTTP/1's.
      const { incoming } = env as HttpBindings
      try {
        return await handler(request, { address: incoming.socket.remoteAddress, incoming })
      } catch (error) {
        // The client left while its request was pending: nobody reads this answer, but the
        // listener needs one, or it would log the abort as a server error.
        if (request.signal.aborted) return new Response(null, { status: 499 })
        throw error
      }
    },
    { overrideGlobalObjects: false },
  )
  return listen((incoming, outgoing) => void listener(incoming, outgoing), options)
}

async function listen(
  onRequest: (incoming: IncomingMessage, outgoing: ServerResponse) => void,
  { port = 0, host = '127.0.0.1', limits, errorHeaders = {} }: ServeOptions,
): Promise<RunningServer> {
  const clientErrors = handleClientErrors(errorHeaders)
  const server = createServer(limits ? nodeDeadlines(limits) : {}, (incoming, outgoing) => {
    clientErrors.track(incoming, outgoing)
    onRequest(incoming, outgoing)
  })
  server.on('clientError', clientErrors.onClientError)
  if (limits && limits.maxConnectionsPerClient !== false) capConnectionsPerAddress(server, limits.maxConnectionsPerClient)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
  }
}

function nodeDeadlines({ headersTimeout, requestTimeout, keepAliveTimeout }: ConnectionLimits) {
  return {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
    // Node looks for requests past their deadlines every 30 s unless told otherwise, so a head
    // could take 30 s longer than `headersTimeout`. Looking every fifth of the shortest deadline
    // (at most every second) keeps the overrun small; each look walks only the connections
    // with a request under way.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(Math.min(headersTimeout, requestTimeout) / 5))),
  }
}
