#!/usr/bin/env node
/**
 * A small HTTP load generator, run by `bench/run.mjs` in its own process so that the server under
 * test never shares an event loop (or a CPU-time budget) with the code that loads it.
 *
 *   node bench/loadgen.mjs '<plan as JSON>'
 *
 * The plan: `url`, `headers`, `body` (a fixed body) or `fresh` (`{ count, prefix, template }`: a
 * body of `count` engagements with ids never sent before), `concurrency` (requests in flight, each
 * on its own keep-alive connection), `warmupMs` (sent, not counted), `durationMs` (counted), and
 * optionally `forwardedFor` (rotates `X-Forwarded-For` over that many addresses of 198.18.0.0/15,
 * the range set aside for benchmarks, so a per-client limit sees many clients). Closed loop: each
 * connection sends its next request when the previous answer is read. Prints one JSON line: the
 * answers that came inside the measured span, their statuses and latencies (ms), and its length.
 */
import http from 'node:http'

const plan = JSON.parse(process.argv[2] ?? '{}')
const url = new URL(plan.url)
const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency, maxFreeSockets: plan.concurrency })
let sequence = 0

/** The next body: the fixed one, or one whose engagements carry ids never used before. */
function nextBody() {
  if (plan.body !== undefined) return plan.body
  const { count, prefix, template, identity } = plan.fresh
  const batch = []
  for (let i = 0; i < count; i++) batch.push({ ...template, id: `${prefix}-${sequence++}` })
  return JSON.stringify(identity ? { batch, identity } : { batch })
}

function forwardedFor(n) {
  const index = n % plan.forwardedFor
  return `198.18.${(index >> 8) & 255}.${(index & 255) + 1}`
}

function send(n) {
  const body = nextBody()
  const headers = { ...plan.headers, 'content-length': Buffer.byteLength(body) }
  if (plan.forwardedFor) headers['x-forwarded-for'] = forwardedFor(n)
  return new Promise((resolve) => {
    const started = process.hrtime.bigint()
    const request = http.request(url, { method: 'POST', agent, headers }, (response) => {
      response.on('data', () => {})
      response.on('end', () => resolve({ status: response.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }))
      response.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }))
    })
    request.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }))
    request.end(body)
  })
}

const began = performance.now()
const measureFrom = began + plan.warmupMs
const stopAt = measureFrom + plan.durationMs
const latencies = []
const statuses = {}
let issued = 0

async function connection() {
  while (performance.now() < stopAt) {
    const { status, ms } = await send(issued++)
    // Counted when answered inside the measured span: an unbiased rate for a closed loop.
    const answeredAt = performance.now()
    if (answeredAt >= measureFrom && answeredAt <= stopAt) {
      latencies.push(ms)
      statuses[status] = (statuses[status] ?? 0) + 1
    }
  }
}

await Promise.all(Array.from({ length: plan.concurrency }, connection))
agent.destroy()
process.stdout.write(`${JSON.stringify({ requests: latencies.length, statuses, seconds: plan.durationMs / 1000, latencies })}\n`)
