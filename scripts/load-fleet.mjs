#!/usr/bin/env node
/**
 * Load simulation of the Node proxy as a fleet, on loopback only: a real redis-server, several
 * replicas of the built CLI (`dist/cli.js proxy`) as separate processes, and the emulator as
 * Conversion (in this process). Clients behaving like the browser tracker (the simulation of
 * `npm run load:edge`) spread their requests over the replicas, and send a batch again to
 * another replica after a failure or a lost answer, through an overload, a spell of 50% 500s
 * and a 429 storm (fixed patterns). Meanwhile one replica is killed with SIGKILL and restarted,
 * and Redis is killed and restarted empty (both once the overload is over, while the faults are
 * on). Then a control run: the same replicas without Redis.
 * Prints one summary line per run and exits non-zero when a guarantee does not hold.
 *
 *   npm run load:fleet [-- --replicas=3] [--clients=60] [--engagements=30000]
 *                         [--fault-engagements=6000] [--runs=both|fleet|control] [--verbose]
 *
 * About two minutes on two cores; everything it starts is stopped by its pid.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { startRedis, startReplica } from './fleet-processes.mjs'

const root = resolve(import.meta.dirname, '..')
const { values: args } = parseArgs({
  options: {
    replicas: { type: 'string', default: '3' },
    clients: { type: 'string', default: '60' },
    engagements: { type: 'string', default: '30000' },
    'fault-engagements': { type: 'string', default: '6000' },
    runs: { type: 'string', default: 'both' },
    verbose: { type: 'boolean', default: false },
  },
})
if (!['both', 'fleet', 'control'].includes(args.runs)) throw new Error(`--runs must be both, fleet or control, not ${args.runs}`)
// The emulator keeps its newest 100,000 records: the count reads them all, so stay below.
if (Number(args.engagements) + Number(args['fault-engagements']) > 90_000) throw new Error('at most 90,000 engagements in all')
if (Number(args.replicas) < 2) throw new Error('--replicas must be at least 2: a fleet')

const KEY = 'sk_test_load_fleet_0123456789abcdefghij'
const APP = 'https://app.example.com'
/**
 * After the overload, while the faults are on and clients still track: when a replica is killed
 * and how long it stays down, then when Redis is killed and how long it stays down, in ms. Not
 * during the overload, whose rate is measured: the engagements a killed replica had claimed wait
 * out their lease (30 s), and the rate over a busy period that holds that wait says nothing.
 */
const CRASH_AFTER_OVERLOAD_MS = 1_000
const CRASH_DOWN_MS = 1_000
const REDIS_STOP_AFTER_OVERLOAD_MS = 4_000
const REDIS_DOWN_MS = 2_000
/** An upstream request is "in flight" at a kill from its arrival until this long after its answer. */
const ANSWER_TRANSIT_MS = 50
/** A run gives up after this long: what is not delivered by then counts as lost. */
const RUN_LIMIT_MS = 150_000

const log = (line) => args.verbose && console.error(`[load-fleet] ${line}`)
const directory = await mkdtemp(join(tmpdir(), 'load-fleet-'))
const started = []
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void stopAll().finally(() => process.exit(130)))
async function stopAll() {
  await Promise.all(started.splice(0).map((stop) => stop().catch(() => {})))
}

/** A number in [0, 1) from a fixed seed (mulberry32): the clients' choices are the same every run. */
function seeded(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

let failed = false
try {
  await build({
    stdin: {
      contents: `export { simulateLoad, summaryLine } from './test/workers/load/simulation.ts'`,
      resolveDir: root,
      loader: 'ts',
    },
    outfile: join(directory, 'node.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  })
  const { startEmulator } = await import(join(root, 'dist/emulator.js'))
  const tools = { startEmulator, ...(await import(join(directory, 'node.mjs'))) }
  const results = []
  if (args.runs !== 'control') results.push(await run(tools, true))
  if (args.runs !== 'fleet') results.push(await run(tools, false))
  failed = results.some((ok) => !ok)
} finally {
  await stopAll()
  await rm(directory, { recursive: true, force: true })
}
process.exitCode = failed ? 1 : 0

/** One run: with Redis (the fleet, with a crash and Redis's restart), or without (the control). */
async function run({ startEmulator, simulateLoad, summaryLine }, withRedis) {
  // Every other request fails while the 500s are on: a fixed pattern, not chance.
  let draws = 0
  const emulator = await startEmulator({ apiKey: KEY, host: '127.0.0.1', port: 0, random: () => (draws++ % 2 === 0 ? 0 : 0.99) })
  started.push(() => emulator.close())
  const redis = withRedis ? await startRedis() : undefined
  if (redis) started.push(() => redis.stop())
  const output = []
  const env = {
    CONVERSION_API_KEY: KEY,
    ALLOWED_ORIGINS: APP,
    CONVERSION_API_URL: emulator.url,
    // Each client's address comes in X-Forwarded-For, as from a load balancer.
    TRUST_PROXY: 'true',
    ...(redis ? { REDIS_URL: redis.url } : {}),
  }
  const replicas = await Promise.all(Array.from({ length: Number(args.replicas) }, () => startReplica(root, env, output)))
  for (const replica of replicas) started.push(() => replica.kill())
  log(`${withRedis ? 'fleet' : 'control'}: ${replicas.length} replicas ready`)

  /** The replica of each body's last send: a re-send goes to the next one, as a load balancer's retry would. */
  const lastReplica = new Map()
  /** When each id was first handed to a replica (so that it may have been claimed from then on). */
  const firstSent = new Map()
  const send = async (client, body) => {
    const previous = lastReplica.get(body)
    if (previous === undefined) {
      const now = Date.now()
      for (const { id } of JSON.parse(body).batch) if (!firstSent.has(id)) firstSent.set(id, now)
    }
    const index = previous === undefined ? client % replicas.length : (previous + 1) % replicas.length
    lastReplica.set(body, index)
    try {
      const response = await fetch(replicas[index].url, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json', 'x-forwarded-for': `10.0.${client >> 8}.${client & 255}` },
        body,
      })
      return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() }
    } catch {
      return { status: 0, retryAfter: null, text: '' }
    }
  }

  const runStart = Date.now()
  const events = { kills: [], redisStop: undefined, redisBack: undefined }
  let overloadEnded
  const overloadEnd = new Promise((resolve) => (overloadEnded = resolve))
  const chaos = []
  if (redis) {
    // A replica crashes and comes back; then Redis crashes and comes back empty.
    chaos.push(
      (async () => {
        await overloadEnd
        await sleep(CRASH_AFTER_OVERLOAD_MS)
        const victim = replicas[1]
        events.kills.push(Date.now())
        await victim.crash()
        log('replica 1 killed (SIGKILL)')
        await sleep(CRASH_DOWN_MS)
        await victim.start()
        log('replica 1 restarted')
      })(),
      (async () => {
        await overloadEnd
        await sleep(REDIS_STOP_AFTER_OVERLOAD_MS)
        events.redisStop = Date.now()
        await redis.stop()
        log('redis killed')
        await sleep(REDIS_DOWN_MS)
        await redis.start()
        events.redisBack = Date.now()
        log('redis restarted, empty')
      })(),
    )
  }

  const report = await simulateLoad({
    send,
    emulator: emulator.origin,
    clients: Number(args.clients),
    engagements: Number(args.engagements),
    faultEngagements: Number(args['fault-engagements']),
    errorsMs: 5_000,
    stormMs: 3_000,
    timeLimitMs: RUN_LIMIT_MS,
    runId: `fleet-${withRedis ? 'redis' : 'control'}-${runStart}`,
    random: seeded(withRedis ? 20_260_101 : 20_260_102),
    timeline: args.verbose,
    log: (line) => {
      if (line.startsWith('overload delivered')) overloadEnded()
      log(line)
    },
  })
  overloadEnded()
  await Promise.all(chaos)
  const causes = duplicateCauses(emulator, events, firstSent)
  const stopCodes = await Promise.all(replicas.map((replica) => replica.stop()))
  const name = withRedis ? `fleet replicas=${replicas.length} redis=yes` : `control replicas=${replicas.length} redis=no`
  console.log(
    `load-fleet ${name} ${summaryLine(report)} duplicated: in-flight-at-kill=${causes.inFlightAtKill} after-redis-forgot=${causes.acrossRedisRestart} other=${causes.other}` +
      ` graceful-exits=${stopCodes.filter((code) => code === 0).length}/${replicas.length}`,
  )
  await stopAll()

  if (!withRedis) {
    // The control shows what the shared limit and memory prevent: it passes when it breaks them.
    const breach = report.busiestWindow > 10 || report.duplicates > 0
    if (!breach) console.error('load-fleet control: replicas pacing alone stayed within the limit; the control shows nothing')
    return breach
  }
  const problems = [
    report.clients < 50 && 'fewer than 50 clients',
    report.lost > 0 && `${report.lost} lost`,
    causes.other > 0 && `${causes.other} duplicated with no crash to explain them`,
    // Every replica puts back the claims and deliveries it knows once Redis comes back empty.
    causes.acrossRedisRestart > 0 &&
      `${causes.acrossRedisRestart} handed to the fleet before Redis was killed were delivered again after it came back empty`,
    causes.inFlightAtKill > 200 * events.kills.length &&
      `${causes.inFlightAtKill} duplicated after ${events.kills.length} kill(s): more than one request's worth each`,
    report.busiestWindow > 10 && `${report.busiestWindow} request starts in one second`,
    report.maxPerRequest > 200 && `${report.maxPerRequest} engagements in one request`,
    report.busy.percent < 90 && `only ${report.busy.percent.toFixed(1)}% of 2,000 engagements per second`,
    output.join('').includes(KEY) && 'the API key appears in a replica output',
    stopCodes.some((code) => code !== 0) && `a replica did not exit 0 on SIGTERM (${stopCodes.join(', ')})`,
  ].filter(Boolean)
  if (problems.length > 0) console.error(`load-fleet: ${problems.join('; ')}`)
  return problems.length === 0
}

/**
 * Why each id the emulator recorded more than once was:
 * - `inFlightAtKill`: its first delivery was inside an upstream request at the instant a replica
 *   was killed (the replica never heard the answer, so never marked it delivered);
 * - `acrossRedisRestart`: it was handed to a replica before Redis was killed (so it may have been
 *   claimed or marked delivered there) and delivered again after Redis came back empty, having
 *   forgotten both;
 * - `other`: nothing explains it; a failure.
 */
function duplicateCauses(emulator, { kills, redisStop, redisBack }, firstSent) {
  const requests = new Map(emulator.requests().map((request) => [request.seq, request]))
  const first = new Map()
  const causes = { inFlightAtKill: 0, acrossRedisRestart: 0, other: 0 }
  for (const record of emulator.engagements()) {
    const id = record.engagement.id
    const earlier = first.get(id)
    if (!earlier) {
      first.set(id, record)
      continue
    }
    const request = requests.get(earlier.requestSeq)
    const answeredAt = request ? request.at + (request.durationMs ?? 0) : earlier.receivedAt
    if (kills.some((at) => earlier.receivedAt - ANSWER_TRANSIT_MS <= at && at <= answeredAt + ANSWER_TRANSIT_MS)) causes.inFlightAtKill++
    else if (redisStop !== undefined && (firstSent.get(id) ?? Infinity) < redisStop && record.receivedAt >= redisBack)
      causes.acrossRedisRestart++
    else {
      causes.other++
      if (causes.other <= 5 && redisStop !== undefined)
        log(
          `duplicate ${id}: first at ${earlier.receivedAt - redisStop} ms from the Redis stop (request ${earlier.requestSeq}), again at ${record.receivedAt - redisStop} ms (request ${record.requestSeq})`,
        )
    }
  }
  return causes
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
