/**
 * Main-thread cost of the tracker in real Chromium: one `track()` call, a burst of calls in one
 * tick, and the time from `track()` to the engagement being durable in IndexedDB, observed from
 * outside the tracker (see `instrumentPage`).
 */
import { instrumentPage, startSite } from './site.mjs'
import { median, summarize } from './stats.mjs'

const EMAIL = 'bench@example.com'

/** Opens a fresh context (fresh storage) on the page, with the tracker created and leading. */
export async function openTrackerPage(browser, origin, trackerOptions, { perId = true } = {}) {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.addInitScript(instrumentPage, { perId })
  await page.goto(`${origin}/page.html`)
  await page.waitForFunction(() => typeof window.t === 'function', undefined, { timeout: 15_000 })
  const leading = await page.evaluate(
    async ({ options, email }) => {
      window.tracker = window.t(options)
      window.tracker.identify(email)
      // Counts, errors, and when each request started (epoch ms).
      window.trackerEvents = { sent: 0, retried: 0, dropped: 0, errors: [], requestStarts: [] }
      window.tracker.subscribe((event) => {
        if (event.type === 'request') window.trackerEvents.requestStarts.push(Date.now())
        else if (event.type === 'error') window.trackerEvents.errors.push(event.error.message)
        else if (event.type in window.trackerEvents) window.trackerEvents[event.type] += event.ids.length
      })
      window.engagement = (i) => ({ type: 'PRODUCT_ACTIVITY', name: 'Report exported', data: { format: 'csv', rows: i } })
      // Bounded: the tracker reads what an earlier visit stored, then joins the election.
      for (let i = 0; i < 250; i++) {
        if ((await window.tracker.stats()).leader) return true
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return false
    },
    { options: trackerOptions, email: EMAIL },
  )
  if (!leading) throw new Error('the tracker did not become the leader tab within 5 s')
  return { context, page }
}

/** Serially: track one, wait until its transaction completes; spaced by a task. */
function durabilitySamples(page, count) {
  return page.evaluate(async (count) => {
    const latencies = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      const result = window.tracker.track(window.engagement(i))
      latencies.push((await window.__bench.whenDurable(result.id)) - started)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    return latencies
  }, count)
}

/** `calls` separate `track()` calls, `perTask` per task, each timed alone. */
function perCallSamples(page, calls, perTask) {
  return page.evaluate(
    async ({ calls, perTask }) => {
      const samples = []
      let done = 0
      while (done < calls) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        const end = Math.min(calls, done + perTask)
        for (; done < end; done++) {
          const input = window.engagement(done)
          const started = performance.now()
          window.tracker.track(input)
          samples.push(performance.now() - started)
        }
      }
      return samples
    },
    { calls, perTask },
  )
}

/**
 * `calls` `track()` calls in one task, the way the peers are measured: one loop in an ordinary
 * task. Returns the synchronous loop's time, the whole task's (its microtasks included: that is
 * where the outbox write starts), the time until every engagement was durable, and the long
 * tasks seen from the burst until the tracker was idle (everything durable and sent).
 */
function burst(page, calls) {
  return page.evaluate(async (calls) => {
    const longTasks = []
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) longTasks.push({ start: entry.startTime, duration: entry.duration })
    })
    observer.observe({ type: 'longtask' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const inputs = Array.from({ length: calls }, (_, i) => window.engagement(i))
    const marks = await new Promise((resolve) =>
      setTimeout(() => {
        // A message is a task of its own: it runs once this task and its microtasks are over.
        const channel = new MessageChannel()
        const t0 = performance.now()
        let t1 = t0
        channel.port1.onmessage = () => resolve({ t0, t1, t2: performance.now() })
        channel.port2.postMessage(0)
        for (let i = 0; i < calls; i++) window.tracker.track(inputs[i])
        t1 = performance.now()
      }, 0),
    )
    const allDurable = await window.__bench.untilDurable(window.__bench.durable + calls, 60_000, 5)
    const durableAt = allDurable ? window.__bench.lastDurableAt : NaN
    // Idle: the outbox empty (sent to the instant endpoint, 10 requests a second). Polled, bounded.
    for (let i = 0; i < 600 && (await window.tracker.stats()).queued > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    const idleAt = performance.now()
    // Long task entries arrive a little after their task ended.
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (const entry of observer.takeRecords()) longTasks.push({ start: entry.startTime, duration: entry.duration })
    observer.disconnect()
    const during = longTasks.filter((task) => task.start + task.duration >= marks.t0 - 1 && task.start <= idleAt)
    return {
      loopMs: marks.t1 - marks.t0,
      taskMs: marks.t2 - marks.t0,
      durableMs: durableAt - marks.t0,
      idleMs: idleAt - marks.t0,
      longestTaskMs: Math.max(0, ...during.map((task) => task.duration)),
      longTasks: during.length,
    }
  }, calls)
}

/**
 * @param {import('playwright').Browser} browser
 * @param {{ trackerCode: string, rounds: number, burstRounds: number, calls: number, durabilitySamples: number, log: (line: string) => void }} plan
 */
export async function measureMainThread(browser, plan) {
  const site = await startSite({ trackerCode: plan.trackerCode })
  const [origin] = site.origins
  const options = { endpoint: '/engagements' }
  try {
    const rounds = []
    for (let round = 0; round < plan.rounds; round++) {
      const { context, page } = await openTrackerPage(browser, origin, options)
      try {
        const durable = await durabilitySamples(page, plan.durabilitySamples)
        const calls = await perCallSamples(page, plan.calls, 100)
        const durability = await page.evaluate(() => window.__bench.durability)
        rounds.push({ call: summarize(calls), durable: summarize(durable), durability })
        plan.log(`  track(): round ${round + 1}/${plan.rounds}: median ${rounds.at(-1).call.median.toFixed(4)} ms`)
      } finally {
        await context.close()
      }
    }
    const bursts = []
    for (let round = 0; round < plan.burstRounds; round++) {
      const { context, page } = await openTrackerPage(browser, origin, options)
      try {
        bursts.push(await burst(page, plan.calls))
        plan.log(`  burst of ${plan.calls}: round ${round + 1}/${plan.burstRounds}: longest task ${bursts.at(-1).longestTaskMs} ms`)
      } finally {
        await context.close()
      }
    }
    const of = (list, pick) => median(list.map(pick))
    return {
      calls: plan.calls,
      rounds: plan.rounds,
      burstRounds: plan.burstRounds,
      callMedianMs: of(rounds, (r) => r.call.median),
      callP99Ms: of(rounds, (r) => r.call.p99),
      callMaxMs: of(rounds, (r) => r.call.max),
      durableMedianMs: of(rounds, (r) => r.durable.median),
      durableP99Ms: of(rounds, (r) => r.durable.p99),
      durabilitySamples: plan.durabilitySamples,
      transactionDurability: rounds[0]?.durability,
      burstLoopMs: of(bursts, (b) => b.loopMs),
      burstTaskMs: of(bursts, (b) => b.taskMs),
      burstLongestTaskMs: of(bursts, (b) => b.longestTaskMs),
      burstLongTasks: of(bursts, (b) => b.longTasks),
      burstDurableMs: of(bursts, (b) => b.durableMs),
      burstIdleMs: of(bursts, (b) => b.idleMs),
      perRound: rounds,
      perBurst: bursts,
    }
  } finally {
    await site.close()
  }
}
