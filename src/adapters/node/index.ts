/** The proxy on Node: `serveProxy()` starts an HTTP server around `createProxy()`. */
import type { IncomingMessage } from 'node:http'
import { serve, type ListenOptions, type NodeHandler } from './serve.js'
import { createFileAcknowledgedIds, type FileAcknowledgedIds } from './acknowledged-file.js'
import { corsHeaders, originMatcher } from '../../proxy/cors.js'
import { createProxy, type Proxy } from '../../proxy/proxy.js'
import { DEFAULT_PATH, type ProxyOptions } from '../../proxy/options.js'

export { createFileAcknowledgedIds, type FileAcknowledgedIds, type FileAcknowledgedIdsOptions } from './acknowledged-file.js'

/** Options of {@link serveProxy}: the proxy's, where to listen, and whom to trust for client addresses. */
export interface ServeProxyOptions extends ProxyOptions, ListenOptions {
  /**
   * Take the client's address from `X-Forwarded-For` (its last entry, added by your own reverse
   * proxy) instead of the socket. Only when a reverse proxy you run is in front: otherwise
   * clients could choose their own address and escape the per-client limit. Default `false`.
   */
  trustProxy?: boolean
  /**
   * A file where the proxy remembers, for 24 hours, which engagement ids Conversion acknowledged,
   * so that after a restart (a deploy, a crash) a browser's re-send is still answered as a
   * duplicate instead of reaching Conversion twice. One line per upstream batch, compacted by
   * itself; a line torn by a crash is skipped. One process per file. Default: none, the memory
   * lives and dies with the process.
   * @example serveProxy({ apiKey, allowedOrigins, stateFile: '/var/lib/relay/acknowledged.log' })
   */
  stateFile?: string
  /**
   * Milliseconds a client has, from the moment its request arrives, to send the whole body. A
   * slower one gets 408 and its connection is closed, so clients that trickle a few bytes a
   * second cannot hold the proxy's connections (Node's own limit is 5 minutes). Default `30000`:
   * a 256 KiB batch, the tracker's default, at 70 kbit/s.
   */
  bodyTimeout?: number
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

const DEFAULT_BODY_TIMEOUT_MS = 30_000

/**
 * Serves the proxy on Node.
 * @example
 * const server = await serveProxy({ port: 8787, apiKey: process.env.CONVERSION_API_KEY, allowedOrigins: ['https://app.example.com'] })
 * console.log(`tracker endpoint: ${server.url}`)
 */
export async function serveProxy(options: ServeProxyOptions): Promise<RunningProxy> {
  const { port, host, trustProxy = false, stateFile, bodyTimeout = DEFAULT_BODY_TIMEOUT_MS, ...proxyOptions } = options
  if (!(bodyTimeout > 0)) throw new TypeError('conversion-engagements proxy: `bodyTimeout` must be a positive number')
  if (stateFile !== undefined && proxyOptions.acknowledged) {
    throw new TypeError('conversion-engagements proxy: give `stateFile` or `acknowledged`, not both')
  }
  const logger = proxyOptions.logger ?? console
  const acknowledged: FileAcknowledgedIds | undefined =
    stateFile === undefined
      ? undefined
      : createFileAcknowledgedIds({
          path: stateFile,
          ...(proxyOptions.now ? { now: proxyOptions.now } : {}),
          onProblem: (message) => logger.warn(`[conversion-engagements] ${message}`),
        })
  let proxy: Proxy | undefined
  try {
    proxy = createProxy({
      clientKey: (_request, env) => clientAddress(env as NodeClient, trustProxy),
      ...proxyOptions,
      ...(acknowledged ? { acknowledged } : {}),
    })
    const running = proxy
    const server = await serve(withBodyDeadline(running, bodyTimeout, originMatcher(proxyOptions.allowedOrigins)), {
      ...(port === undefined ? {} : { port }),
      ...(host === undefined ? {} : { host }),
    })
    return {
      url: `${server.origin}${proxyOptions.path ?? DEFAULT_PATH}`,
      origin: server.origin,
      port: server.port,
      proxy: running,
      async close() {
        running.close()
        await server.close()
        acknowledged?.close()
      },
    }
  } catch (error) {
    proxy?.close()
    acknowledged?.close()
    throw error
  }
}

/**
 * Answers 408 to a request whose body is still arriving `timeoutMs` after the request did. The
 * proxy may still be reading it: the answer closes the connection, which ends that read.
 */
function withBodyDeadline(proxy: Proxy, timeoutMs: number, isAllowedOrigin: (origin: string) => boolean): NodeHandler {
  return async (request, client) => {
    const { incoming } = client
    if (incoming.complete) return proxy.fetch(request, client)
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<Response>((resolve) => {
      timer = setTimeout(() => resolve(tooSlow(request, timeoutMs, isAllowedOrigin)), timeoutMs)
    })
    // Once the whole body is in, the request may take as long as settling it takes.
    const received = () => clearTimeout(timer)
    incoming.once('end', received)
    try {
      return await Promise.race([proxy.fetch(request, client), late])
    } finally {
      clearTimeout(timer)
      incoming.off('end', received)
    }
  }
}

function tooSlow(request: Request, timeoutMs: number, isAllowedOrigin: (origin: string) => boolean): Response {
  const origin = request.headers.get('origin')
  return new Response(JSON.stringify({ message: `the request body must arrive within ${timeoutMs} ms; send it again` }), {
    status: 408,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      connection: 'close',
      ...(origin && isAllowedOrigin(origin) ? corsHeaders(origin) : {}),
    },
  })
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
