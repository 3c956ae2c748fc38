/**
 * The outbox at scale: `backlog` engagements queued while the endpoint is down. What it costs in
 * IndexedDB bytes and page memory, and whether the operations that run while it waits (reading
 * the next batch, appending one engagement, counting) stay proportional to what they touch
 * rather than to the backlog.
 */
import { openTrackerPage } from './main-thread.mjs'
import { closedPortUrl, startSite } from './site.mjs'
import { median } from './stats.mjs'

const DATABASE = 'conversion-engagements:default'
const STORE = 'outbox'

/** Tracks `count` engagements, `perTask` per task, and waits (bounded) until all are durable. */
async function fill(page, count, perTask, timeoutMs) {
  return page.evaluate(
    async ({ count, perTask, timeoutMs }) => {
      const target = window.__bench.durable + count
      const started = performance.now()
      for (let done = 0; done < count; ) {
        const end = Math.min(count, done + perTask)
        for (; done < end; done++) window.tracker.track(window.engagement(done))
        // Let the outbox write what this task tracked before the next task adds more.
        await window.__bench.untilDurable(target - (count - done), timeoutMs, 5)
      }
      return { ms: performance.now() - started, durable: window.__bench.durable >= target }
    },
    { count, perTask, timeoutMs },
  )
}

/** Measures, at the current backlog, the operations whose cost should not grow with it. */
async function probe(page, cdp, samples) {
  const inPage = await page.evaluate(
    async ({ database, store, samples }) => {
      const request = (r) =>
        new Promise((resolve, reject) => {
          r.onsuccess = () => resolve(r.result)
          r.onerror = () => reject(r.error)
        })
      const db = await request(indexedDB.open(database))
      const sendable = IDBKeyRange.bound('s', 't', false, true)
      const time = async (work) => {
        const started = performance.now()
        await work()
        return performance.now() - started
      }
      // The outbox's head read, exactly as the tracker issues it: the oldest 200 sendable entries.
      window.__bench.paused = true
      const headReads = []
      for (let i = 0; i < samples; i++)
        headReads.push(await time(() => request(db.transaction(store).objectStore(store).getAll(sendable, 200))))
      const counts = []
      for (let i = 0; i < samples; i++) counts.push(await time(() => request(db.transaction(store).objectStore(store).count(sendable))))
      window.__bench.paused = false
      db.close()
      // What the tracker's own drain reads meanwhile (it retries against the endpoint that is down).
      const readsBefore = window.__bench.reads.length
      // One engagement appended: from track() to its transaction's completion.
      const appends = []
      for (let i = 0; i < samples; i++) {
        const target = window.__bench.durable + 1
        const started = performance.now()
        window.tracker.track(window.engagement(i))
        await window.__bench.untilDurable(target, 30_000, 0)
        appends.push(performance.now() - started)
      }
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      const trackerReads = window.__bench.reads.slice(readsBefore).map((read) => read.ms)
      const stats = []
      let queued = 0
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        queued = (await window.tracker.stats()).queued
        stats.push(performance.now() - started)
      }
      const estimate = await navigator.storage.estimate()
      return {
        headReads,
        counts,
        appends,
        trackerReads,
        stats,
        queued,
        usage: estimate.usage,
        indexedDB: estimate.usageDetails?.indexedDB,
      }
    },
    { database: DATABASE, store: STORE, samples },
  )
  await cdp.send('HeapProfiler.collectGarbage')
  const heap = await cdp.send('Runtime.getHeapUsage')
  return { ...inPage, heapUsed: heap.usedSize }
}

const summary = (probed) => ({
  queued: probed.queued,
  headReadMs: median(probed.headReads),
  trackerReadMs: median(probed.trackerReads),
  trackerReads: probed.trackerReads.length,
  countMs: median(probed.counts),
  appendMs: median(probed.appends),
  statsMs: median(probed.stats),
  usageBytes: probed.indexedDB ?? probed.usage,
  heapUsedBytes: probed.heapUsed,
})

/**
 * @param {import('playwright').Browser} browser
 * @param {{ trackerCode: string, backlog: number, small: number, samples: number, log: (line: string) => void }} plan
 */
export async function measureOutboxScale(browser, plan) {
  const site = await startSite({ trackerCode: plan.trackerCode })
  const endpoint = await closedPortUrl()
  let context
  try {
    const opened = await openTrackerPage(
      browser,
      site.origins[0],
      // Retries come quickly (the endpoint refuses at once), so the drain reads its next batch often.
      { endpoint, maxQueueSize: plan.backlog + 1_000, retryBaseDelay: 50, retryMaxDelay: 250 },
      { perId: false },
    )
    context = opened.context
    const { page } = opened
    const cdp = await context.newCDPSession(page)
    await cdp.send('HeapProfiler.collectGarbage')
    const empty = {
      heapUsedBytes: (await cdp.send('Runtime.getHeapUsage')).usedSize,
      usageBytes: await page.evaluate(async () => (await navigator.storage.estimate()).usageDetails?.indexedDB ?? 0),
    }

    const smallFill = await fill(page, plan.small, plan.small, 60_000)
    const small = summary(await probe(page, cdp, plan.samples))
    plan.log(`  outbox at ${small.queued}: head read ${small.headReadMs.toFixed(1)} ms, append ${small.appendMs.toFixed(1)} ms`)
    const bigFill = await fill(page, plan.backlog - small.queued, 5_000, 120_000)
    if (!bigFill.durable) throw new Error(`the outbox did not take ${plan.backlog} engagements in time`)
    const big = summary(await probe(page, cdp, plan.samples))
    plan.log(`  outbox at ${big.queued}: head read ${big.headReadMs.toFixed(1)} ms, append ${big.appendMs.toFixed(1)} ms`)
    const sent = await page.evaluate(() => window.trackerEvents)
    return {
      backlog: plan.backlog,
      empty,
      small,
      big,
      fillPerSecond: (plan.backlog - small.queued) / (bigFill.ms / 1000),
      smallFillMs: smallFill.ms,
      bytesPerEngagement: (big.usageBytes - small.usageBytes) / (big.queued - small.queued),
      heapGrowthBytes: big.heapUsedBytes - small.heapUsedBytes,
      headReadRatio: big.headReadMs / small.headReadMs,
      trackerReadRatio: big.trackerReadMs / small.trackerReadMs,
      appendRatio: big.appendMs / small.appendMs,
      countRatio: big.countMs / small.countMs,
      statsRatio: big.statsMs / small.statsMs,
      delivered: sent.sent,
      dropped: sent.dropped,
    }
  } finally {
    await context?.close().catch(() => {})
    await site.close()
  }
}
