import type { IncomingMessage, ServerResponse } from 'node:http'
import { PageServer, sleep } from './page-server.js'

/** One request that reached the engagements endpoint. */
export interface Arrival {
  /** Epoch ms when the request arrived. */
  at: number
  transport: 'fetch' | 'beacon'
  ids: string[]
  batch: Record<string, unknown>[]
  identity: Record<string, string> | undefined
  status: number
}

/** What the next requests should get instead of a settlement. */
export interface Failure {
  status: number
  headers?: Record<string, string>
}

/**
 * A loopback server for end-to-end tests: serves the BUILT bundles and test pages, and an
 * `/engagements` endpoint that speaks the proxy's wire contract (settlement, de-duplication by id)
 * and records every arrival. Tests steer it in-process.
 */
export class ContractServer extends PageServer {
  arrivals: Arrival[] = []
  /** Ids accepted, in order, each once. */
  accepted: string[] = []
  /** Ids answered as duplicates (they had been accepted before). */
  duplicates: string[] = []
  failures: Failure[] = []
  /** Answer every engagements request with this status until cleared. */
  failAll: Failure | undefined
  /** Answer every engagements request only after this long. */
  latencyMs = 0
  private seen = new Set<string>()

  constructor() {
    super({ cacheControl: 'no-store', folders: ['/dist/', '/node_modules/', '/e2e/pages/'] })
    this.handlers.set('/engagements', (request, response) => this.engagements(request, response))
  }

  private async engagements(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') return this.send(response, 405, JSON.stringify({ message: 'POST only' }), '.json')
    const at = Date.now()
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      batch: Record<string, unknown>[]
      identity?: Record<string, string>
    }
    const transport = String(request.headers['content-type']).startsWith('text/plain') ? 'beacon' : 'fetch'
    const arrival: Arrival = {
      at,
      transport,
      ids: body.batch.map((item) => String(item.id)),
      batch: body.batch,
      identity: body.identity,
      status: 200,
    }
    this.arrivals.push(arrival)
    if (this.latencyMs > 0) await sleep(this.latencyMs)
    const failure = this.failAll ?? this.failures.shift()
    if (failure) {
      arrival.status = failure.status
      return this.send(response, failure.status, JSON.stringify({ message: 'failing on purpose' }), '.json', failure.headers)
    }
    let accepted = 0
    let duplicates = 0
    for (const id of arrival.ids) {
      if (this.seen.has(id)) {
        duplicates++
        this.duplicates.push(id)
      } else {
        this.seen.add(id)
        this.accepted.push(id)
        accepted++
      }
    }
    this.send(response, 200, JSON.stringify({ accepted, duplicates, rejected: [] }), '.json')
  }
}
