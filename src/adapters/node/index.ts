/** The proxy on Node: `serveProxy()` starts an HTTP server around `createProxy()`. */
import type { IncomingMessage } from 'node:http'
import { serve, type ListenOptions } from './serve.js'
import { withBodyDeadline } from './body-deadline.js'
import { addressGroup } from './connection-cap.js'
import { createFileMemory, type FileMemory } from './file-memory.js'
import { resolveServerLimits, type ServerLimitOptions } from './server-limits.js'
import { baseHeaders } from '../../proxy/cors.js'
import { parseAllowedOrigins } from '../../proxy/origins.js'
import { createProxy, type Proxy } from '../../proxy/proxy.js'
import { DEFAULT_PATH, type ProxyOptions } from '../../proxy/options.js'

export { createFileMemory, type FileMemory, type FileMemoryOptions } from './file-memory.js'
export type { ServerLimitOptions } from './server-limits.js'

/**
 * Options of {@link serveProxy}: the proxy's, where to listen, whom to trust for client
 * addresses, and what one client may hold (see {@link ServerLimitOptions}).
 */
export interface ServeProxyOptions extends ProxyOptions, ListenOptions, ServerLimitOptions {
  /**
   * Take the client's address from `X-Forwarded-For` (its last entry, added by your own reverse
   * proxy) instead of the socket. Only when a reverse proxy you run is in front: otherwise
   * clients could choose their own address and escape the per-client limit. Default `false`.
   */
  trustProxy?: boolean
  /**
   * A file where the proxy remembers, for 24 hours, which engagements Conversion acknowledged,
   * so that after a restart (a deploy, a crash) a browser's re-send is still answered as a
   * duplicate instead of reaching Conversion twice. One line per upstream batch, compacted by
   * itself; a line torn by a crash is skipped. One process per file. Default: none, the memory
   * lives and dies with the process.
   * @example serveProxy({ apiKey, allowedOrigins, stateFile: '/var/lib/relay/delivered.log' })
   */
  stateFile?: string
}

/** A running proxy server. */
export interface RunningProxy {
  /** Where the proxy answers, path included: what to give the tracker as `endpoint`. */
  url: string
  origin: string
  port: number
  proxy: Proxy
  /** Stops the server and the proxy's timers, and closes the state file. */
  close(): Promise<void>
}

/**
 * Serves the proxy on Node.
 * @example
 * const server = await serveProxy({ port: 8787, apiKey: process.env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * console.log(`tracker endpoint: ${server.url}`)
 */
export async function serveProxy(options: ServeProxyOptions): Promise<RunningProxy> {
  const { port, host, trustProxy = false, stateFile, headersTimeout, bodyTimeout, keepAliveTimeout, maxConnectionsPerClient, ...proxyOptions } = options
  const limits = resolveServerLimits({ headersTimeout, bodyTimeout, keepAliveTimeout, maxConnectionsPerClient }, trustProxy)
  const allowed = parseAllowedOrigins(proxyOptions.allowedOrigins)
  if (stateFile !== undefined && proxyOptions.memory) {
    throw new TypeError('conversion-engagements proxy: give `stateFile` or `memory`, not both')
  }
  const logger = proxyOptions.logger ?? console
  const memory: FileMemory | undefined =
    stateFile === undefined
      ? undefined
      : createFileMemory({
          path: stateFile,
          ...(proxyOptions.now ? { now: proxyOptions.now } : {}),
          onProblem: (message) => logger.warn(`[conversion-engagements] ${message}`),
        })
  let proxy: Proxy | undefined
  try {
    proxy = createProxy({
      clientKey: (_request, env) => clientAddress(env as NodeClient, trustProxy),
      ...proxyOptions,
      ...(memory ? { memory } : {}),
    })
    const running = proxy
    const server = await serve(withBodyDeadline(running.fetch, limits.bodyTimeout, allowed), {
      ...(port === undefined ? {} : { port }),
      ...(host === undefined ? {} : { host }),
      limits,
      errorHeaders: baseHeaders(),
    })
    return {
      url: `${server.origin}${proxyOptions.path ?? DEFAULT_PATH}`,
      origin: server.origin,
      port: server.port,
      proxy: running,
      async close() {
        running.close()
        await server.close()
        memory?.close()
      },
    }
  } catch (error) {
    proxy?.close()
    memory?.close()
    throw error
  }
}

interface NodeClient {
  address: string | undefined
  incoming: IncomingMessage
}

/** The client, for the per-client limits: its address, an IPv6 one as its /64 network, as the connection cap counts it. */
function clientAddress({ address, incoming }: NodeClient, trustProxy: boolean): string | undefined {
  if (!trustProxy) return addressGroup(address)
  // The last hop is the one our own reverse proxy appended; earlier ones are the client's word.
  const forwarded = String(incoming.headers['x-forwarded-for'] ?? '').split(',').at(-1)?.trim()
  return addressGroup(forwarded || address)
}
