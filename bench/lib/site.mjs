/**
 * The pages the benchmark opens: one loopback server per origin (each origin has its own outbox
 * and its own leader tab), serving a page that loads the tree-shaken `createTracker` bundle
 * (the bytes the size section measures) as `window.t`, and an instant `/engagements` endpoint.
 */
import { createServer } from 'node:http'

/**
 * Cross-origin isolated, so that `performance.now()` ticks in 5 µs steps instead of 100 µs:
 * one `track()` call is shorter than the coarse step.
 */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
}
const PAGE =
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>benchmark</title><script type="module" src="/tracker.js"></script><h1>benchmark</h1></html>'

/**
 * Starts `origins` servers that share one handler.
 * @param {{ trackerCode: string, origins?: number }} options
 */
export async function startSite({ trackerCode, origins = 1 }) {
  const handler = (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (path === '/page.html') return response.writeHead(200, PAGE_HEADERS).end(PAGE)
    if (path === '/tracker.js') {
      return response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(trackerCode)
    }
    if (path === '/engagements' && request.method === 'POST') {
      const chunks = []
      request.on('data', (chunk) => chunks.push(chunk))
      request.on('end', () => {
        let count = 0
        try {
          count = JSON.parse(Buffer.concat(chunks).toString('utf8')).batch.length
        } catch {
          // Counted as nothing; the answer below still settles.
        }
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        response.end(JSON.stringify({ accepted: count, duplicates: 0, rejected: [] }))
      })
      return undefined
    }
    return response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  }
  const servers = []
  for (let i = 0; i < origins; i++) servers.push(await listen(handler))
  return {
    origins: servers.map((server) => server.url),
    async close() {
      await Promise.all(servers.map((server) => server.close()))
    },
  }
}

/** Listens on loopback with `handler`; resolves with the base URL and a closer that also ends open connections. */
export async function listen(handler) {
  const server = createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** A loopback URL where nothing listens: an endpoint that is down (connections are refused). */
export async function closedPortUrl(path = '/engagements') {
  const server = await listen()
  await server.close()
  return `${server.url}${path}`
}

/**
 * Runs in the page before any of its scripts, to observe the tracker from the outside:
 * - every `IDBObjectStore.put` of an outbox entry is tied to its transaction, and the
 *   transaction's `complete` event stamps the entry durable (per id, or only counted when
 *   `perId` is false, so 100,000 entries cost the page no extra memory);
 * - every `getAll` with a count (the outbox's head read) is timed from the call to its result
 *   (except while `__bench.paused`, when the benchmark reads the outbox itself);
 * - every POST through `fetch` is timed from the call to its answer, as the page sees it.
 * Everything lands in `window.__bench`.
 */
export function instrumentPage({ perId }) {
  const bench = { durable: 0, durableAt: new Map(), waiters: new Map(), reads: [], fetches: [], durability: undefined }
  const fetch = window.fetch
  window.fetch = function (input, init) {
    const started = performance.now()
    const answer = fetch.call(this, input, init)
    if (init?.method === 'POST' && bench.fetches.length < 100_000) {
      answer.then(
        () => bench.fetches.push(performance.now() - started),
        () => {},
      )
    }
    return answer
  }
  Object.defineProperty(window, '__bench', { value: bench })
  // Bounded: an engagement not durable within 60 s resolves as NaN instead of waiting forever.
  bench.whenDurable = (id) =>
    bench.durableAt.has(id)
      ? Promise.resolve(bench.durableAt.get(id))
      : new Promise((resolve) => {
          const timer = setTimeout(() => {
            bench.waiters.delete(id)
            resolve(NaN)
          }, 60_000)
          bench.waiters.set(id, (at) => {
            clearTimeout(timer)
            resolve(at)
          })
        })
  // Polled, so that waiting adds no work of its own to the tasks being observed; bounded by `timeoutMs`.
  // True when `count` engagements in all have been durable.
  bench.untilDurable = async (count, timeoutMs, everyMs) => {
    const deadline = performance.now() + timeoutMs
    while (bench.durable < count && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, everyMs))
    return bench.durable >= count
  }
  const entriesOf = new WeakMap()
  const put = IDBObjectStore.prototype.put
  IDBObjectStore.prototype.put = function (value, key) {
    const request = put.call(this, value, key)
    const id = value?.engagement?.id
    if (typeof id === 'string') {
      const transaction = this.transaction
      let ids = entriesOf.get(transaction)
      if (!ids) {
        ids = []
        entriesOf.set(transaction, ids)
        bench.durability = transaction.durability
        transaction.addEventListener('complete', () => {
          const at = performance.now()
          bench.durable += ids.length
          bench.lastDurableAt = at
          if (!perId) return
          for (const one of ids) {
            bench.durableAt.set(one, at)
            const waiter = bench.waiters.get(one)
            if (waiter) {
              bench.waiters.delete(one)
              waiter(at)
            }
          }
        })
      }
      ids.push(id)
    }
    return request
  }
  const getAll = IDBObjectStore.prototype.getAll
  IDBObjectStore.prototype.getAll = function (query, count) {
    const started = performance.now()
    const request = getAll.call(this, query, count)
    if (count !== undefined && !bench.paused && bench.reads.length < 10_000) {
      request.addEventListener('success', () =>
        bench.reads.push({ at: started, ms: performance.now() - started, rows: request.result.length }),
      )
    }
    return request
  }
}
