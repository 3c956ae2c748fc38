/**
 * Throughput against Conversion's ceiling: engagements tracked in real pages (one origin each,
 * so each has its own leader tab), drained through the Node proxy (`serveProxy` from the built
 * `dist/node.js`) into the strict emulator (`startEmulator` from `dist/emulator.js`).
 */
import { openTrackerPage } from './main-thread.mjs'
import { startSite } from './site.mjs'
import { mean, median, quantile, sleep, waitFor } from './stats.mjs'

const API_KEY = 'sk_test_benchmark_only'
/** Conversion's documented limits, and the proxy's pacing window (1,000 ms + its 5 ms margin). */
export const UPSTREAM = { requestsPerSecond: 10, batchSize: 200, ceilingPerSecond: 2_000, proxyWindowMs: 1_005 }

/**
 * The steady rate Conversion saw, from the arrivals of accepted requests. The proxy's pacer has
 * ten slots, and requests take them in turn, so request k + 10 reuses the slot of request k: the
 * median time between the two is how long a slot takes to come round (its window, 1,005 ms, plus
 * the upstream answer, plus any wait for something to send). Ten slots of one batch each per
 * round is the rate. A median over every slot's round trips leaves out the start and the end of
 * a run, which the end-to-end figure reports. Also returns the mean batch (0 when nothing
 * arrived) and the arrivals in time order.
 */
export function steadyRate(arrivals, slots = UPSTREAM.requestsPerSecond) {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at)
  const meanBatch = sorted.length ? sorted.reduce((sum, arrival) => sum + arrival.count, 0) / sorted.length : 0
  if (sorted.length <= slots) return { perSecond: NaN, roundMs: NaN, meanBatch, sorted }
  const rounds = []
  for (let k = 0; k + slots < sorted.length; k++) rounds.push(sorted[k + slots].at - sorted[k].at)
  const roundMs = median(rounds)
  return { perSecond: (slots * meanBatch) / (roundMs / 1000), roundMs, meanBatch, sorted }
}

/**
 * The least time `total` engagements can take through a pacer that lets `requestsPerSecond`
 * batches start per round of (window + latency): every round but the last takes a whole round,
 * the last only its answer. Both pacers count so: the proxy's towards Conversion (upstream
 * latency), and each page's towards the proxy (the latency the page sees, the proxy's included).
 */
export function idealSeconds(total, latencyMs) {
  const rounds = Math.ceil(total / (UPSTREAM.requestsPerSecond * UPSTREAM.batchSize))
  return ((rounds - 1) * (UPSTREAM.proxyWindowMs + latencyMs) + latencyMs) / 1000
}

/**
 * @param {import('playwright').Browser} browser
 * @param {{ trackerCode: string, pages: number, perPage: number, log: (line: string) => void, modules: { startEmulator: Function, serveProxy: Function } }} plan
 */
export async function measureThroughput(browser, plan) {
  const { startEmulator, serveProxy } = plan.modules
  const total = plan.pages * plan.perPage
  const site = await startSite({ trackerCode: plan.trackerCode, origins: plan.pages })
  const emulator = await startEmulator({ apiKey: API_KEY })
  /** Upstream calls as the proxy saw them: from the call to the answer's headers. */
  const upstreamCalls = []
  const proxyLog = []
  const proxy = await serveProxy({
    apiKey: API_KEY,
    upstreamUrl: emulator.url,
    allowedOrigins: site.origins,
    // Every page comes from one loopback address, which the per-client guard would count as one
    // client allowed half of Conversion's capacity: off, so that Conversion's ceiling is measured.
    clientRateLimit: false,
    fetch: async (input, init) => {
      const started = performance.now()
      const response = await fetch(input, init)
      upstreamCalls.push({ started, ms: performance.now() - started, status: response.status })
      return response
    },
    logger: { info: () => {}, warn: (...args) => proxyLog.push(args.join(' ')), error: (...args) => proxyLog.push(args.join(' ')) },
  })
  const contexts = []
  /** Samples of the proxy's state: what it was waiting for at each moment. */
  const samples = []
  let sampling = true
  try {
    const pages = []
    for (const origin of site.origins) {
      const { context, page } = await openTrackerPage(browser, origin, { endpoint: proxy.url, maxQueueSize: plan.perPage })
      contexts.push(context)
      pages.push(page)
    }
    const sampler = (async () => {
      while (sampling) {
        const stats = proxy.proxy.stats()
        if (stats) samples.push({ backlog: stats.backlog, inFlight: stats.requestsInFlight, nextStartInMs: stats.window.nextStartInMs })
        await sleep(20)
      }
    })()
    const trackedAt = await Promise.all(
      pages.map((page) =>
        page.evaluate(async (count) => {
          const startedAt = Date.now()
          window.trackingStartedAt = performance.now()
          // 1,000 per task: a page that tracks a lot, not one frozen for seconds.
          for (let done = 0; done < count; ) {
            const end = Math.min(count, done + 1_000)
            for (; done < end; done++) window.tracker.track(window.engagement(done))
            await new Promise((resolve) => setTimeout(resolve, 0))
          }
          return startedAt
        }, plan.perPage),
      ),
    )
    const accepted = (log) => log.reduce((sum, entry) => sum + (entry.status === 200 ? entry.count : 0), 0)
    const timeoutMs = (total / UPSTREAM.ceilingPerSecond) * 3_000 + 30_000
    let lastProgress = Date.now()
    let lastCount = 0
    const finished = await waitFor(
      () => {
        const now = accepted(emulator.requests())
        if (now !== lastCount) {
          lastCount = now
          lastProgress = Date.now()
        }
        // Bounded twice: the whole budget, and 20 s without any progress.
        return now >= total || Date.now() - lastProgress > 20_000
      },
      timeoutMs,
      100,
    )
    sampling = false
    await sampler
    const log = emulator.requests()
    const delivered = accepted(log)
    plan.log(`  ${delivered} of ${total} delivered`)
    const okArrivals = log.filter((entry) => entry.status === 200).map((entry) => ({ at: entry.at, count: entry.count }))
    const firstTracked = Math.min(...trackedAt)
    const lastAnswer = Math.max(...log.map((entry) => entry.at + (entry.durationMs ?? 0)))
    const latencyMs = mean(upstreamCalls.map((call) => call.ms))
    const steady = steadyRate(okArrivals)
    // The steady rate's ceiling: a slot round in the middle of a run, at the median latency.
    const practicalCeiling =
      (UPSTREAM.requestsPerSecond * UPSTREAM.batchSize) / ((UPSTREAM.proxyWindowMs + median(upstreamCalls.map((call) => call.ms))) / 1000)
    // The last answers' events reach the page a moment after Conversion's answers.
    await waitFor(
      async () =>
        (await Promise.all(pages.map((page) => page.evaluate(() => window.trackerEvents.sent)))).every((sent) => sent >= plan.perPage),
      3_000,
      50,
    )
    // The page's own pacer lets 10 of its batches start per round of (window + the latency it
    // sees): a slot's rounds add up, so the mean latency counts, from the fetch to its answer.
    const events = await Promise.all(pages.map((page) => page.evaluate(() => window.trackerEvents)))
    const fetches = (await Promise.all(pages.map((page) => page.evaluate(() => window.__bench.fetches)))).flat()
    const pageLatencyMs = mean(fetches)
    const proxyIdeal = idealSeconds(total, latencyMs)
    const pageIdeal = idealSeconds(plan.perPage, pageLatencyMs)
    const ideal = Math.max(proxyIdeal, pageIdeal)
    const seconds = (lastAnswer - firstTracked) / 1000
    // The tracker's first head reads (outbox, 200 at a time): when they started after tracking began, and how long each took.
    const headReads = await pages[0].evaluate(() =>
      window.__bench.reads
        .slice(0, 8)
        .map((read) => ({ at: Math.round(read.at - window.trackingStartedAt), ms: Math.round(read.ms), rows: read.rows })),
    )
    const totals = proxy.proxy.stats()?.totals
    const firstArrival = Math.min(...log.map((entry) => entry.at))
    return {
      pages: plan.pages,
      perPage: plan.perPage,
      total,
      delivered,
      finished: finished && delivered >= total,
      uniqueIds: new Set(emulator.ids()).size,
      duplicates: emulator.duplicates().length,
      status429: log.filter((entry) => entry.status === 429).length,
      otherErrors: log.filter((entry) => entry.status !== 200 && entry.status !== 429).length,
      upstreamRequests: log.length,
      meanBatch: steady.meanBatch,
      busiestSecond: emulator.maxStartsInAnyWindow(),
      steadyPerSecond: steady.perSecond,
      slotRoundMs: steady.roundMs,
      upstreamLatencyMs: {
        mean: latencyMs,
        median: median(upstreamCalls.map((call) => call.ms)),
        p99: quantile(
          upstreamCalls.map((call) => call.ms),
          0.99,
        ),
      },
      pageLatencyP99Ms: quantile(fetches, 0.99),
      practicalCeilingPerSecond: practicalCeiling,
      ratioToCeiling: steady.perSecond / UPSTREAM.ceilingPerSecond,
      ratioToPracticalCeiling: steady.perSecond / practicalCeiling,
      endToEndSeconds: seconds,
      idealSeconds: ideal,
      idealBy: pageIdeal > proxyIdeal ? 'page' : 'proxy',
      /** The same ideal with median latencies: what the run would have taken without its slow answers (the first round's, mostly). */
      idealAtMedianSeconds: Math.max(
        idealSeconds(total, median(upstreamCalls.map((call) => call.ms))),
        idealSeconds(plan.perPage, median(fetches)),
      ),
      pageLatencyMs,
      endToEndRatio: ideal / seconds,
      endToEndPerSecond: total / seconds,
      firstRequestAfterMs: Math.min(...events.map((e) => e.requestStarts[0] ?? Infinity)) - firstTracked,
      /** From the first track() until the tenth request of the pages together started: the first round. */
      tenthRequestAfterMs: (events.flatMap((e) => e.requestStarts).sort((a, b) => a - b)[9] ?? Infinity) - firstTracked,
      firstArrivalAfterMs: firstArrival - firstTracked,
      /** From the first request to the proxy until the tenth upstream arrival: how long the first round took. */
      firstRoundMs: steady.sorted.length > 10 ? steady.sorted[9].at - firstArrival : NaN,
      proxy: {
        submits: totals?.submits,
        busy: totals?.busy,
        unavailable: totals?.unavailable,
        retries: totals?.retries,
        // While the run lasted, how often had the proxy nothing to send though its pacer had room?
        shareStarved: samples.length
          ? samples.filter((sample) => sample.backlog === 0 && sample.nextStartInMs === 0).length / samples.length
          : NaN,
        messages: proxyLog.slice(0, 5),
      },
      headReads,
      tracker: {
        sent: events.reduce((sum, e) => sum + e.sent, 0),
        retried: events.reduce((sum, e) => sum + e.retried, 0),
        dropped: events.reduce((sum, e) => sum + e.dropped, 0),
        errors: events.flatMap((e) => e.errors).slice(0, 5),
      },
    }
  } finally {
    sampling = false
    for (const context of contexts) await context.close().catch(() => {})
    await proxy.close()
    await emulator.close()
    await site.close()
  }
}
