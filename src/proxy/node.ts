/** The proxy on Node: `serveProxy()` starts an HTTP server around `createProxy()`. */
import type { IncomingMessage } from 'node:http'
import { serve, type ListenOptions } from '../node/serve.js'
import { createProxy, type Proxy } from './proxy.js'
import { DEFAULT_PATH, type ProxyOptions } from './options.js'

/** Options of {@link serveProxy}: the proxy's, where to listen, and whom to trust for client addresses. */
export interface ServeProxyOptions extends ProxyOptions, ListenOptions {
  /**
   * Take the client's address from `X-Forwarded-For` (its last entry, added by your own reverse
   * proxy) instead of the socket. Only when a reverse proxy you run is in front: otherwise
   * clients could choose their own address and escape the per-client limit. Default `false`.
   */
  trustProxy?: boolean
}

/** A running proxy server. */
export interface RunningProxy {
  /** Where the proxy answers, path included: what to give the tracker as `endpoint`. */
  url: string
  origin: string
  port: number
  proxy: Proxy
  /** Stops the server and the proxy's timers. */
  close(): Promise<void>
}

/**
 * Serves the proxy on Node.
 * @example
 * const server = await serveProxy({ port: 8787, apiKey: process.env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * console.log(`tracker endpoint: ${server.url}`)
 */
export async function serveProxy(options: ServeProxyOptions): Promise<RunningProxy> {
  const { port, host, trustProxy = false, ...proxyOptions } = options
  const proxy = createProxy({
    clientKey: (_request, env) => clientAddress(env as NodeClient, trustProxy),
    ...proxyOptions,
  })
  const server = await serve((request, client) => proxy.fetch(request, client), {
    ...(port === undefined ? {} : { port }),
    ...(host === undefined ? {} : { host }),
  })
  return {
    url: `${server.origin}${proxyOptions.path ?? DEFAULT_PATH}`,
    origin: server.origin,
    port: server.port,
    proxy,
    async close() {
      proxy.close()
      await server.close()
    },
  }
}

interface NodeClient {
  address: string | undefined
  incoming: IncomingMessage
}

function clientAddress({ address, incoming }: NodeClient, trustProxy: boolean): string | undefined {
  if (!trustProxy) return address
  // The last hop is the one our own reverse proxy appended; earlier ones are the client's word.
  const forwarded = String(incoming.headers['x-forwarded-for'] ?? '').split(',').at(-1)?.trim()
  return forwarded || address
}
