import type { ProxyLogger } from '../../src/proxy/options.js'
import type { FakeClock } from './clock.js'

/** A proxy logger that keeps every line, so tests can count them and search them for the key. */
export function recordingLogger(): { logs: string[]; logger: ProxyLogger } {
  const logs: string[] = []
  const log = (...args: unknown[]) => void logs.push(args.map(String).join(' '))
  return { logs, logger: { info: log, warn: log, error: log } }
}

interface Received {
  at: number
  ids: string[]
  body: { batch: Record<string, unknown>[]; identity?: Record<string, string> }
  bytes: number
}

/**
 * A stand-in for the customer's proxy, as a `fetch`: speaks the wire contract, de-duplicates
 * ids like the real one, and can be told to fail in every way the tracker must survive.
 */
export class FakeProxy {
  /** Every request that reached the proxy, in arrival order. */
  requests: Received[] = []
  /** Ids accepted, each once. */
  delivered = new Set<string>()
  /** How often each id arrived, re-sends included. */
  arrivals = new Map<string, number>()
  /** Ids that arrived again after they had been accepted (answered as duplicates). */
  duplicates: string[] = []
  /** The next answers to give instead of a settlement: status and headers. */
  failures: { status: number; headers?: Record<string, string>; body?: string }[] = []
  /** Answer 413 to bodies above this many bytes. */
  maxBytes = Infinity
  /** Answer 400 to any batch holding one of these ids (as if the body were malformed). */
  poison = new Set<string>()
  /** Settle these ids as rejected (200 with `rejected`). */
  refuse = new Map<string, string>()
  /** Never answer (until the request is aborted). */
  hang = false
  /** Throw a network error. */
  down = false

  constructor(private clock: FakeClock) {}

  fetch = async (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (this.down) throw new TypeError('Failed to fetch')
    const text = String(init?.body ?? '')
    const body = JSON.parse(text) as Received['body']
    const ids = body.batch.map((item) => String(item.id))
    this.requests.push({ at: this.clock.now(), ids, body, bytes: new TextEncoder().encode(text).length })
    for (const id of ids) this.arrivals.set(id, (this.arrivals.get(id) ?? 0) + 1)
    if (this.hang) {
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))
    }
    const failure = this.failures.shift()
    if (failure) {
      return new Response(failure.body ?? JSON.stringify({ message: 'failing on purpose' }), {
        status: failure.status,
        headers: failure.headers ?? {},
      })
    }
    if (this.requests.at(-1)!.bytes > this.maxBytes) return json(413, { message: 'body too large' })
    if (ids.some((id) => this.poison.has(id))) return json(400, { message: 'malformed batch' })
    let accepted = 0
    let duplicates = 0
    const rejected: { id: string; reason: string }[] = []
    for (const id of ids) {
      const reason = this.refuse.get(id)
      if (reason) rejected.push({ id, reason })
      else if (this.delivered.has(id)) {
        duplicates++
        this.duplicates.push(id)
      } else {
        this.delivered.add(id)
        accepted++
      }
    }
    return json(200, { accepted, duplicates, rejected })
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}
