/**
 * The Node proxy's own cost, loaded by `bench/loadgen.mjs` in a separate process.
 *
 * With fresh ids the proxy's throughput is Conversion's ceiling by design (it paces upstream at
 * 10 requests per second and answers each request once ITS engagements are acknowledged), so a
 * load test of fresh ids measures the pacer, not the proxy. The proxy's own work (origin check,
 * per-client guard, body read, parse, validation, identity signature check, de-duplication) is
 * measured with re-sent ids, which it has already forwarded and answers as duplicates without
 * going upstream: everything a request costs except the upstream call. The paced case is
 * measured too, for what it is: the ceiling, and the latency the pacing adds.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { getRequestListener } from '@hono/node-server'
import { listen } from './site.mjs'
import { steadyRate, UPSTREAM } from './throughput.mjs'
import { median, quantile } from './stats.mjs'

const API_KEY = 'sk_test_benchmark_only'
const ORIGIN = 'https://app.example.com'
const EMAIL = 'bench@example.com'
const IDENTITY_SECRET = 'benchmark-identity-secret'
const LOADGEN = fileURLToPath(new URL('../loadgen.mjs', import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const HEADERS = { origin: ORIGIN, 'content-type': 'application/json' }
/**
 * Client addresses the load generator names in X-Forwarded-For, in turn. The per-client guard
 * allows 200 requests per 10 s to each: at 20,000 requests/s, 1,000 addresses would each send
 * at that limit, and the guard would refuse some (the proxy then measures its 429s). 5,000 keep
 * each one at a fifth of it, below the guard's 10,000 clients remembered.
 */
const CLIENTS = 5_000

/** An engagement as the tracker sends it, without its id. */
const TEMPLATE = {
  type: 'PRODUCT_ACTIVITY',
  name: 'Report exported',
  contactEmail: EMAIL,
  createdAt: '2025-08-12T09:21:45.000Z',
  data: { format: 'csv', rows: 1 },
}

function body(count, prefix, identity) {
  const batch = Array.from({ length: count }, (_, i) => ({ ...TEMPLATE, id: `${prefix}-${i}` }))
  return JSON.stringify({ batch, identity })
}

/** Load generators running now, so that an interrupted run can stop them. */
const children = new Set()

/** Stops every load generator still running. */
export function killLoadGenerators() {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
}

/**
 * Runs `script` in a fresh Node process with `plan` as its JSON argument, registered in `children`
 * so that an interrupted run can stop it, and killed once `timeoutMs` have passed. Resolves, once
 * it has exited, with its exit code (null when killed) and what it printed; `onStderr` gets its
 * stderr as it comes.
 */
function runNodeChild(script, plan, timeoutMs, onStderr) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.stderr.on('data', onStderr)
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, out })
    })
  })
}

/** Runs the load generator with `plan` and returns what it printed. */
export async function runLoad(plan) {
  let err = ''
  // Bounded: the plan's own time, plus room to start and to finish what is in flight.
  const { code, out } = await runNodeChild(LOADGEN, plan, plan.warmupMs + plan.durationMs + 20_000, (chunk) => (err += chunk))
  if (code !== 0) throw new Error(`load generator exited with ${code}: ${err.trim().split('\n').at(-1)}`)
  return JSON.parse(out)
}

/** Requests each reference server has answered, to share out the CPU time they used. */
const served = { floor: 0, adapter: 0 }

/** The floor: plain `node:http` that reads the body and answers a settlement. */
function floorHandler(request, response) {
  served.floor++
  const chunks = []
  request.on('data', (chunk) => chunks.push(chunk))
  request.on('end', () => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'access-control-allow-origin': ORIGIN,
      vary: 'Origin',
    })
    response.end('{"accepted":0,"duplicates":1,"rejected":[]}')
  })
}

/**
 * The bridge reference: a Web Request/Response bridge (`@hono/node-server`'s listener, which the
 * emulator's Node server uses) around a handler that only reads the body, i.e. what serving the
 * proxy's `fetch` as it is would cost. The proxy's Node host reads and answers Node's request
 * directly instead: the bridge alone cost several times plain node:http.
 */
const adapterHandler = getRequestListener(
  async (request) => {
    served.adapter++
    await request.text()
    return new Response('{"accepted":0,"duplicates":1,"rejected":[]}', {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'access-control-allow-origin': ORIGIN, vary: 'Origin' },
    })
  },
  { overrideGlobalObjects: false },
)

/**
 * @param {{ rounds: number, durationMs: number, pacedMs: number, concurrency: number, log: (line: string) => void,
 *   modules: { startEmulator: Function, serveProxy: Function, signIdentity: Function } }} plan
 */
export async function measureProxyCost(plan) {
  const { startEmulator, serveProxy, signIdentity } = plan.modules
  const closers = []
  try {
    const emulator = await startEmulator({ apiKey: API_KEY })
    closers.push(() => emulator.close())
    const upstreamMs = []
    const proxy = await serveProxy({
      apiKey: API_KEY,
      upstreamUrl: emulator.url,
      allowedOrigins: [ORIGIN],
      identitySecret: IDENTITY_SECRET,
      // The load generator names many clients in X-Forwarded-For (CLIENTS), so the per-client guard runs on every request without refusing.
      trustProxy: true,
      fetch: async (input, init) => {
        const started = performance.now()
        const response = await fetch(input, init)
        upstreamMs.push(performance.now() - started)
        return response
      },
      logger: { info() {}, warn() {}, error() {} },
    })
    closers.push(() => proxy.close())
    const floor = await listen(floorHandler)
    closers.push(() => floor.close())
    const adapter = await listen(adapterHandler)
    closers.push(() => adapter.close())

    const identity = { [EMAIL]: await signIdentity(EMAIL, IDENTITY_SECRET) }
    const bodies = { 1: body(1, 'resent-1', identity), 200: body(200, 'resent-200', identity) }
    // Forward each id once, so that from now on it is a re-send.
    for (const size of [1, 200]) {
      const response = await fetch(proxy.url, { method: 'POST', headers: HEADERS, body: bodies[size] })
      const settlement = await response.json()
      if (settlement.accepted !== size) throw new Error(`priming the proxy: expected ${size} accepted, got ${JSON.stringify(settlement)}`)
      const again = await (await fetch(proxy.url, { method: 'POST', headers: HEADERS, body: bodies[size] })).json()
      if (again.duplicates !== size) throw new Error(`a re-send was not answered as duplicates: ${JSON.stringify(again)}`)
    }

    const targets = { floor: `${floor.url}/api/relay`, adapter: `${adapter.url}/api/relay`, proxy: proxy.url }
    const results = {}
    for (const size of [1, 200]) {
      const runs = {}
      for (const target of Object.keys(targets)) runs[target] = { latency: [], load: [] }
      // Unmeasured first: every server's code is compiled and warm before any round counts.
      for (const target of Object.keys(targets)) {
        await runLoad({
          url: targets[target],
          headers: HEADERS,
          body: bodies[size],
          concurrency: plan.concurrency,
          warmupMs: 0,
          durationMs: 600,
          forwardedFor: CLIENTS,
        })
      }
      // Rounds interleave the three servers, so a noisy moment of a shared machine hits them alike.
      for (let round = 0; round < plan.rounds; round++) {
        for (const target of Object.keys(targets)) {
          for (const [kind, concurrency] of [
            ['latency', 1],
            ['load', plan.concurrency],
          ]) {
            // CPU time of this process (every thread: GC and crypto included) per request answered:
            // what a request costs, whatever else the machine is doing meanwhile.
            const answered = () => (target === 'proxy' ? proxy.proxy.stats().totals.submits : served[target])
            const answeredBefore = answered()
            const cpuBefore = process.cpuUsage()
            const run = await runLoad({
              url: targets[target],
              headers: HEADERS,
              body: bodies[size],
              concurrency,
              warmupMs: 300,
              durationMs: plan.durationMs,
              forwardedFor: CLIENTS,
            })
            const cpu = process.cpuUsage(cpuBefore)
            run.cpuPerRequestUs = (cpu.user + cpu.system) / Math.max(1, answered() - answeredBefore)
            runs[target][kind].push(run)
          }
        }
      }
      for (const target of Object.keys(targets)) {
        const { latency, load } = runs[target]
        const statuses = {}
        for (const run of [...latency, ...load]) {
          for (const [status, count] of Object.entries(run.statuses)) statuses[status] = (statuses[status] ?? 0) + count
        }
        const row = (results[`${target}-${size}`] = {
          size,
          target,
          latencyMedianMs: median(latency.map((run) => median(run.latencies))),
          latencyP99Ms: median(latency.map((run) => quantile(run.latencies, 0.99))),
          requestsPerSecond: median(load.map((run) => run.requests / run.seconds)),
          requestsPerSecondRounds: load.map((run) => Math.round(run.requests / run.seconds)),
          cpuPerRequestUs: median(load.map((run) => run.cpuPerRequestUs)),
          loadLatencyMedianMs: median(load.map((run) => median(run.latencies))),
          statuses,
        })
        plan.log(
          `  ${target}, ${size}-engagement requests: ${Math.round(row.requestsPerSecond)} requests/s, ${Math.round(row.cpuPerRequestUs)} us CPU each, ${row.latencyMedianMs.toFixed(2)} ms alone`,
        )
      }
      const proxyRow = results[`proxy-${size}`]
      proxyRow.addedMedianMs = proxyRow.latencyMedianMs - results[`floor-${size}`].latencyMedianMs
      proxyRow.addedP99Ms = proxyRow.latencyP99Ms - results[`floor-${size}`].latencyP99Ms
      proxyRow.engagementsPerSecond = proxyRow.requestsPerSecond * size
      proxyRow.ratioToFloor = proxyRow.requestsPerSecond / results[`floor-${size}`].requestsPerSecond
      // What one core could answer, from CPU time per request: steadier than a rate on a shared machine.
      proxyRow.engagementsPerCoreSecond = (size * 1e6) / proxyRow.cpuPerRequestUs
    }

    // The paced case: fresh ids, so every engagement goes upstream, at Conversion's ceiling.
    const paced = {}
    for (const [size, concurrency] of [
      [200, 10],
      [1, 200],
    ]) {
      emulator.reset()
      upstreamMs.length = 0
      const run = await runLoad({
        url: proxy.url,
        headers: HEADERS,
        fresh: { count: size, prefix: `fresh-${size}`, template: TEMPLATE, identity },
        concurrency,
        warmupMs: 1_500,
        durationMs: plan.pacedMs,
        forwardedFor: CLIENTS,
      })
      const log = emulator.requests()
      const arrivals = log.filter((entry) => entry.status === 200).map((entry) => ({ at: entry.at, count: entry.count }))
      const seconds = (Math.max(...log.map((entry) => entry.at)) - Math.min(...log.map((entry) => entry.at))) / 1000
      const steady = steadyRate(arrivals)
      paced[size] = {
        size,
        concurrency,
        engagementsPerSecond: size === 200 ? steady.perSecond : (run.requests * size) / run.seconds,
        upstreamRequestsPerSecond: log.length / seconds,
        meanUpstreamBatch: steady.meanBatch,
        latencyMedianMs: median(run.latencies),
        latencyP99Ms: quantile(run.latencies, 0.99),
        upstreamLatencyMs: median(upstreamMs),
        status429: log.filter((entry) => entry.status === 429).length,
        busiestSecond: emulator.maxStartsInAnyWindow(),
        duplicates: emulator.duplicates().length,
        statuses: run.statuses,
      }
      paced[size].ratioToCeiling = paced[size].engagementsPerSecond / UPSTREAM.ceilingPerSecond
      plan.log(`  paced, ${size}-engagement requests x ${concurrency}: ${Math.round(paced[size].engagementsPerSecond)} engagements/s`)
      // Let the proxy finish what the load generator left in flight before the next case.
      await new Promise((resolve) => setTimeout(resolve, 2_500))
    }
    return { rounds: plan.rounds, durationMs: plan.durationMs, concurrency: plan.concurrency, resent: results, paced }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {})
  }
}

/**
 * Runs {@link measureProxyCost} in a fresh Node process: the proxy then shares its heap and
 * event loop with nothing the earlier sections left behind. Its progress goes to stderr.
 * @param {{ rounds: number, durationMs: number, pacedMs: number, concurrency: number, log: (line: string) => void }} plan
 */
export async function measureProxyCostInChild({ log, ...plan }) {
  // Bounded: every load run is bounded; this bounds the whole section too.
  const { code, out } = await runNodeChild(SELF, plan, 5 * 60_000, (chunk) => {
    for (const line of String(chunk).split('\n')) if (line) log(line)
  })
  if (code !== 0) throw new Error(`the proxy section failed (exit ${code})`)
  return JSON.parse(out.trim().split('\n').at(-1))
}

// Run as a program by `measureProxyCostInChild`.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const plan = JSON.parse(process.argv[2])
  const modules = {
    ...(await import('../../dist/emulator.js')),
    ...(await import('../../dist/node.js')),
    ...(await import('../../dist/proxy.js')),
  }
  try {
    const result = await measureProxyCost({ ...plan, modules, log: (line) => console.error(line) })
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    killLoadGenerators()
    process.exitCode = 1
  }
}
