/** Serves a Web-standard fetch handler over a Node HTTP server: the one Node adapter of this package. */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener, type HttpBindings } from '@hono/node-server'

/**
 * A fetch handler as Node serves it. `client` is the socket's address, for per-client limits;
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

/** A running server. */
export interface RunningServer {
  /** Such as `http://127.0.0.1:43121`. */
  origin: string
  port: number
  /** Stops listening and drops every connection, idle and busy, so the process can exit. Safe to call twice. */
  close(): Promise<void>
}

/**
 * Why `@hono/node-server`: converting Node's request and response to and from Web `Request` and
 * `Response` has many edge cases (streamed bodies, aborts when the client leaves, repeated
 * headers, backpressure) that this small, widely used listener already handles; writing our own
 * would be more code to get wrong. Only its listener is used, not Hono itself.
 */
export async function serve(handler: NodeHandler, { port = 0, host = '127.0.0.1' }: ListenOptions = {}): Promise<RunningServer> {
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
  const server = createServer(listener)
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
