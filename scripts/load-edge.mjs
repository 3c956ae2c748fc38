#!/usr/bin/env node
/**
 * Load simulation of the proxy on Cloudflare's runtime, on loopback only: many clients send
 * through several ingress Workers, each its own workerd isolate, which share one Durable Object
 * per API key; the upstream is the emulator, in this Node process. Prints one summary line and
 * exits non-zero when a guarantee does not hold.
 *
 *   node scripts/load-edge.mjs [--mode=object|isolate|queue] [--clients=60] [--ingresses=4]
 *                              [--engagements=40000] [--fault-engagements=6000] [--verbose]
 *
 * About 40 s on two cores; everything it starts is stopped within 100 s whatever happens.
 *
 * Why Miniflare from Node rather than the Workers test pool: only here can several ingress
 * Workers run as separate isolates, as they do at the edge (the pool runs the Worker in the test's
 * own isolate), and the script prints its own line instead of a test report. The Worker is
 * bundled from `src/` with esbuild, as wrangler would; the emulator and the simulation (shared
 * with the Workers test suite) are bundled for Node the same way.
 *
 * Modes: `object` (default) is the Durable Object path; `isolate` runs the same load without it,
 * to show what per-isolate pacing does with several isolates; `queue` sends through queue mode.
 * `--verbose` also prints, to stderr, when each upstream request of the overload arrived.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'object' },
    clients: { type: 'string', default: '60' },
    ingresses: { type: 'string', default: '4' },
    engagements: { type: 'string', default: '40000' },
    'fault-engagements': { type: 'string', default: '6000' },
    verbose: { type: 'boolean', default: false },
  },
})
const mode = args.mode
if (!['object', 'isolate', 'queue'].includes(mode)) throw new Error(`--mode must be object, isolate or queue, not ${mode}`)
// The emulator keeps its newest 100,000 records: the count reads them all, so stay below.
if (Number(args.engagements) + Number(args['fault-engagements']) > 90_000) throw new Error('at most 90,000 engagements in all')
const KEY = 'sk_test_load_edge_0123456789abcdefghij'
const COMPATIBILITY_DATE = '2026-04-20'
/** Everything is stopped by then, whatever happens: the simulation itself gives up earlier. */
const HARD_LIMIT_MS = 100_000

const log = (line) => args.verbose && console.error(`[load-edge] ${line}`)
const started = Date.now()
const directory = await mkdtemp(join(tmpdir(), 'load-edge-'))
let emulator
let mf
const guard = setTimeout(() => {
  console.error('load-edge: hard time limit reached, stopping')
  void stop().finally(() => process.exit(2))
}, HARD_LIMIT_MS)

let stopping
function stop() {
  stopping ??= (async () => {
    await mf?.dispose().catch(() => {})
    await emulator?.close().catch(() => {})
    await rm(directory, { recursive: true, force: true })
  })()
  return stopping
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void stop().finally(() => process.exit(130)))

let failed = true
try {
  await build({
    entryPoints: { worker: join(root, 'src/adapters/cloudflare/worker.ts') },
    outdir: directory,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    logLevel: 'error',
  })
  await build({
    stdin: {
      contents: [
        `export { startEmulator } from './src/emulator/index.ts'`,
        `export { simulateLoad, summaryLine } from './test/workers/load/simulation.ts'`,
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    outfile: join(directory, 'node.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
  })
  log(`built in ${Date.now() - started} ms`)
  const { startEmulator, simulateLoad, summaryLine } = await import(join(directory, 'node.mjs'))

  emulator = await startEmulator({ apiKey: KEY, host: '127.0.0.1', port: 0 })
  mf = new Miniflare(workers(Number(args.ingresses), emulator.url))
  await mf.ready
  const ingresses = Number(args.ingresses)
  log(`workerd ready after ${Date.now() - started} ms`)

  const report = await simulateLoad({
    send: async (client, body) => {
      try {
        // Each ingress Worker answers on a host of its own (see `routes`).
        const response = await mf.dispatchFetch(`https://ingress-${client % ingresses}.example.com/api/relay`, {
          method: 'POST',
          headers: { origin: 'https://app.example.com', 'content-type': 'application/json' },
          body,
        })
        return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() }
      } catch {
        return { status: 0, retryAfter: null, text: '' }
      }
    },
    emulator: emulator.origin,
    clients: Number(args.clients),
    engagements: Number(args.engagements),
    faultEngagements: Number(args['fault-engagements']),
    errorsMs: 5_000,
    stormMs: 3_000,
    timeLimitMs: HARD_LIMIT_MS - 15_000 - (Date.now() - started),
    runId: `edge-${Date.now()}`,
    log,
    timeline: args.verbose,
  })
  console.log(`load-edge mode=${mode} ingresses=${args.ingresses} ${summaryLine(report)}`)
  const problems = [
    report.clients < 50 && 'fewer than 50 clients',
    report.lost > 0 && `${report.lost} lost`,
    report.duplicates > 0 && `${report.duplicates} duplicates at the emulator`,
    report.busiestWindow > 10 && `${report.busiestWindow} request starts in one second`,
    report.maxPerRequest > 200 && `${report.maxPerRequest} engagements in one request`,
    // Queue mode is not held to it: its one consumer takes the next batch only once the last one
    // is settled, and the object's slots that come free in between stay idle (86% to 92% here).
    mode === 'object' && report.busy.percent < 90 && `only ${report.busy.percent.toFixed(1)}% of 2,000 engagements per second`,
  ].filter(Boolean)
  if (problems.length > 0) console.error(`load-edge: ${problems.join('; ')}`)
  failed = problems.length > 0
} finally {
  clearTimeout(guard)
  await stop()
}
process.exitCode = failed ? 1 : 0

/** Miniflare's options: `count` ingress Workers and, apart, the Worker hosting the Durable Object and the consumer. */
function workers(count, upstreamUrl) {
  const scriptPath = join(directory, 'worker.js')
  const vars = { CONVERSION_API_KEY: KEY, CONVERSION_API_URL: upstreamUrl, ALLOWED_ORIGINS: 'https://app.example.com' }
  const object = mode === 'isolate' ? {} : { durableObjects: { COALESCER: { className: 'EngagementCoalescer', scriptName: 'coalescer' } } }
  const queue = mode === 'queue' ? { queueProducers: { ENGAGEMENTS_QUEUE: { queueName: 'conversion-engagements' } } } : {}
  const ingress = Array.from({ length: count }, (_, i) => ({
    name: `ingress-${i}`,
    routes: [`ingress-${i}.example.com/*`],
    modules: true,
    modulesRoot: directory,
    scriptPath,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: vars,
    ...object,
    ...queue,
  }))
  const coalescer = {
    name: 'coalescer',
    modules: true,
    modulesRoot: directory,
    scriptPath,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: vars,
    durableObjects: { COALESCER: { className: 'EngagementCoalescer', useSQLite: true } },
    // The settings of wrangler.jsonc's queue environment (Miniflare runs one batch at a time,
    // as `max_concurrency: 1` does).
    ...(mode === 'queue'
      ? { queueConsumers: { 'conversion-engagements': { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 100 } } }
      : {}),
  }
  return { workers: [...ingress, coalescer] }
}
