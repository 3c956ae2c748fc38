import { startEmulator, type RunningEmulator, type StartEmulatorOptions } from '../../src/emulator/index.js'
import { serveProxy, type RunningProxy, type ServeProxyOptions } from '../../src/adapters/node/index.js'

/** The page origin the proxies of a stack allow. */
export const APP = 'http://app.localhost:3000'

export const engagement = (id: string) => ({
  id,
  contactEmail: 'john@example.com',
  type: 'PRODUCT_ACTIVITY',
  createdAt: '2025-08-12T09:21:45Z',
})

/**
 * Emulators and proxies on loopback, over real sockets, all knowing one key. Whatever it started,
 * `close()` stops: call it after each test.
 */
export function nodeStack(apiKey: string) {
  const running: { close(): Promise<void> }[] = []
  const started = <T extends { close(): Promise<void> }>(server: T): T => {
    running.push(server)
    return server
  }
  return {
    /** An emulator of Conversion; `options` may inject its `random` or its faults. */
    emulator: async (options: Partial<StartEmulatorOptions> = {}): Promise<RunningEmulator> =>
      started(await startEmulator({ apiKey, ...options })),
    /** A proxy allowing {@link APP}, without a per-client rate limit, in front of `upstream`. */
    proxy: async (upstream: RunningEmulator, options: Partial<ServeProxyOptions> = {}): Promise<RunningProxy> =>
      started(await serveProxy({ apiKey, allowedOrigins: [APP], upstreamUrl: upstream.url, clientRateLimit: false, ...options })),
    close: async (): Promise<void> => {
      await Promise.all(running.splice(0).map((server) => server.close()))
    },
  }
}

/** Posts a batch of `ids` to the proxy as a page of {@link APP} does. */
export function postIds(proxy: RunningProxy, ids: string[], signal?: AbortSignal): Promise<Response> {
  return fetch(proxy.url, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json' },
    body: JSON.stringify({ batch: ids.map(engagement) }),
    ...(signal ? { signal } : {}),
  })
}
