/**
 * A client of the proxy from an address of its own: Linux answers on all of 127.0.0.0/8, so a
 * test can be several clients (127.0.0.2, 127.0.0.3, ...) on one machine, each counted apart by
 * the proxy's per-client limits. Requests go over real sockets, a few kept open per client.
 */
import { Agent, request } from 'node:http'

/** What came back for one request: status 0 when the connection failed or was closed without an answer. */
export interface Answer {
  status: number
  /** The `Retry-After` header, when there was one. */
  retryAfter: string | undefined
  body: string
  /** From the call until the whole answer was read, in ms. */
  ms: number
  /** Why no answer came, when none did. */
  error?: string
}

export interface LoopbackClient {
  readonly address: string
  /** POSTs `body` to `url` as a page of `origin` does. Never rejects: a failure is an answer with status 0. */
  post(url: string, origin: string, body: string): Promise<Answer>
  /** Closes every connection this client holds. */
  close(): void
}

/**
 * A client sending from `address` (in 127.0.0.0/8), over at most `connections` connections at once
 * (keep it under the proxy's `maxConnectionsPerClient`, 64 by default); more requests queue here.
 */
export function loopbackClient(
  address: string,
  { connections = 8, timeoutMs = 60_000 }: { connections?: number; timeoutMs?: number } = {},
): LoopbackClient {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  return {
    address,
    post(url, origin, body) {
      const started = performance.now()
      return new Promise((resolve) => {
        const done = (answer: Omit<Answer, 'ms'>) => resolve({ ...answer, ms: performance.now() - started })
        const outgoing = request(
          url,
          {
            method: 'POST',
            agent,
            localAddress: address,
            timeout: timeoutMs,
            headers: { origin, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (incoming) => {
            const chunks: Buffer[] = []
            incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
            incoming.on('error', (error) => done({ status: 0, retryAfter: undefined, body: '', error: String(error) }))
            incoming.on('end', () => {
              const retryAfter = incoming.headers['retry-after']
              done({
                status: incoming.statusCode ?? 0,
                retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
                body: Buffer.concat(chunks).toString('utf8'),
              })
            })
          },
        )
        outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)))
        outgoing.on('error', (error) => done({ status: 0, retryAfter: undefined, body: '', error: String(error) }))
        outgoing.end(body)
      })
    },
    close: () => agent.destroy(),
  }
}

/** The median and the largest of `values` (0 for none). */
export function medianAndMax(values: readonly number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor((sorted.length - 1) / 2)] as number, max: sorted[sorted.length - 1] as number }
}
