/**
 * Turns the sections' figures into table rows (figure, median, p99, ceiling, ratio, verdict) and
 * the legend under the table: what each row measures and, where a figure misses its ceiling,
 * what limited it.
 */
import { CEILINGS, verdict } from './ceilings.mjs'

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a')
const ms = (n, digits = n < 1 ? 3 : n < 10 ? 1 : 0) =>
  Number.isFinite(n) ? `${n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ms` : 'n/a'
const bytes = (n) => (Math.abs(n) >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : Math.abs(n) >= 1e4 ? `${(n / 1e3).toFixed(0)} kB` : `${int(n)} B`)
/** A ratio as the table shows it: 2 decimals, 1 from 10x, none from 100x; empty when not finite. */
export const ratioText = (n) => (Number.isFinite(n) ? (n >= 100 ? `${Math.round(n)}x` : n >= 10 ? `${n.toFixed(1)}x` : n.toFixed(2)) : '')

/**
 * A row held against a ceiling. `missNote`, what limited the figure, joins the row's note only
 * when the row's verdict is MISS.
 */
function held(figure, value, text, ceiling, ceilingText, direction, { missNote, ...extra } = {}) {
  const status = verdict(value, ceiling, direction)
  const row = { figure, median: text, ceiling: ceilingText, ratio: direction === 'zero' ? undefined : value / ceiling, status, ...extra }
  if (status === 'MISS' && missNote) row.note = row.note ? `${row.note} ${missNote}` : missNote
  return row
}
/** A row shown for information, with no ceiling. */
const shown = (figure, text, extra = {}) => ({ figure, median: text, ceiling: '', status: '', ...extra })

export function sizeRows(size, budgets) {
  const [script, esm] = size.rows
  return [
    held(
      'script tag: gzip (minified / brotli)',
      script.gzip,
      `${int(script.gzip)} B`,
      budgets.scriptTagGzip,
      `<= ${int(budgets.scriptTagGzip)} B`,
      'max',
      {
        p99: `${int(script.minified)} / ${int(script.brotli)} B`,
        note: 'Size: the bytes browsers download, gzip level 9 and brotli quality 11; budgets from bench/budgets.json (what `npm run size` enforces in CI).',
      },
    ),
    held(
      'ESM import { createTracker }, tree-shaken: gzip',
      esm.gzip,
      `${int(esm.gzip)} B`,
      budgets.esmImportGzip,
      `<= ${int(budgets.esmImportGzip)} B`,
      'max',
      {
        p99: `${int(esm.minified)} / ${int(esm.brotli)} B`,
        note: 'The tree-shaken ESM import is what an app bundler keeps for `import { createTracker }`, minified; the browser sections run exactly these bytes.',
      },
    ),
  ]
}

export function mainThreadRows(m) {
  const deferred = m.burstTaskMs - m.burstLoopMs
  return [
    held(
      `one track() call (${int(m.calls)} calls x ${m.rounds})`,
      m.callMedianMs,
      ms(m.callMedianMs),
      CEILINGS.trackMedianMs,
      `<= ${ms(CEILINGS.trackMedianMs)}`,
      'max',
      {
        p99: ms(m.callP99Ms),
        note: `track(): each call timed alone in a cross-origin isolated page (performance.now() ticks in 5 us steps), 100 calls per task; median and p99 per round, median over rounds. Ceiling: 1,000 calls within one long-task budget (50 ms).`,
      },
    ),
    held('  p99 of one track() call', m.callP99Ms, ms(m.callP99Ms), CEILINGS.trackP99Ms, `<= ${ms(CEILINGS.trackP99Ms)}`, 'max'),
    held(
      `burst: ${int(m.calls)} track() calls in one task: per call`,
      (m.burstLoopMs / m.calls) * 1000,
      `${((m.burstLoopMs / m.calls) * 1000).toFixed(1)} us`,
      CEILINGS.burstCallUs,
      `<= ${CEILINGS.burstCallUs} us`,
      'max',
      {
        p99: `loop ${ms(m.burstLoopMs)}`,
        note: `Burst: ${int(m.calls)} calls in one loop in an ordinary task, the way the peers are measured (median of ${m.burstRounds} fresh pages). The loop is the caller's own synchronous time, each call validating, completing and queueing its engagement; nothing else (bytes, events nobody hears, copies) is done in it. Ceiling: faster than the fastest peer measured the same way (Amplitude 2.46, 17 us a call).`,
        missNote: `MISS, cause: the machine's load (a lone call's median is in the first row); per call, the check of the engagement's fields (a regular expression each, the data walked once and serialized once to count its bytes), a random UUID and the entry's key.`,
      },
    ),
    held(
      '  tracker work deferred into the same task (microtasks)',
      deferred,
      ms(deferred),
      CEILINGS.deferredMs,
      `<= ${ms(CEILINGS.deferredMs)}`,
      'max',
      {
        missNote: `MISS, cause: the burst's microtasks run the outbox append's first slice (outbox.ts WRITE_SLICE puts, each tens of microseconds of main thread in Chromium: serialization and IPC per record).`,
      },
    ),
    held(
      '  longest main-thread task, burst until idle (all sent)',
      m.burstLongestTaskMs,
      ms(m.burstLongestTaskMs),
      m.burstLoopMs + CEILINGS.deferredMs,
      `<= loop + ${ms(CEILINGS.deferredMs)}`,
      'max',
      {
        p99: `idle after ${ms(m.burstIdleMs)}`,
        note: `Longest task: PerformanceObserver('longtask') from the burst until the tracker was idle (every engagement durable and sent to an instant endpoint). It is the burst's own task: the caller's loop plus what the tracker deferred into it; the ceiling says no other task of the tracker (writes, reads, request bodies) comes near it.`,
        missNote: `MISS: a task of the tracker's own after the burst was longer than the burst's deferred work may be.`,
      },
    ),
    held(
      'track() -> durable in IndexedDB (one at a time)',
      m.durableP99Ms,
      ms(m.durableMedianMs),
      CEILINGS.durableP99Ms,
      `p99 <= ${ms(CEILINGS.durableP99Ms)}`,
      'max',
      {
        p99: ms(m.durableP99Ms),
        note: `Durable: from track() to the 'complete' event of the IndexedDB transaction that stored the engagement, seen by wrapping IDBObjectStore.put in an init script (transaction durability '${m.transactionDurability}'); ${int(m.durabilitySamples)} engagements tracked one after another while the tracker sends to an instant endpoint.`,
      },
    ),
    shown(`burst: ${int(m.calls)} track() -> all durable`, ms(m.burstDurableMs)),
  ]
}

export function throughputRows(t, label) {
  const rows = [
    held(
      `${label}: steady engagements/s upstream`,
      t.steadyPerSecond,
      int(t.steadyPerSecond),
      CEILINGS.upstreamPerSecond,
      `${int(CEILINGS.upstreamPerSecond)}/s`,
      'min',
      {
        p99: `${ratioText(t.ratioToPracticalCeiling)} of ${int(t.practicalCeilingPerSecond)}/s`,
        note: `${label}: ${int(t.total)} engagements tracked (${int(t.perPage)} per page, 1,000 per task, maxQueueSize raised to match so none is dropped, one origin per page so each has its own leader tab), drained through serveProxy (defaults, but the per-client guard off: every page shares one loopback address) to the emulator. Steady rate: 10 batches of ${int(t.meanBatch)} per median slot round (${ms(t.slotRoundMs)}: request k to request k+10). The proxy paces by answers (a slot is held from a request's start until 1,005 ms after its answer), so its practical ceiling is 2,000 per (1,005 ms + upstream latency ${ms(t.upstreamLatencyMs.median, 1)}) = ${int(t.practicalCeilingPerSecond)}/s (ratio in the p99 column).`,
        // Which cause: whether the rate would have held against the practical ceiling.
        missNote:
          verdict(t.steadyPerSecond, t.practicalCeilingPerSecond, 'min') === 'ok'
            ? `MISS, cause: upstream latency (${ms(t.upstreamLatencyMs.median, 1)} median, ${ms(t.upstreamLatencyMs.p99)} p99 on this loaded machine) lengthens every slot round: the pacer's rule, by design.`
            : `MISS, cause: the proxy had nothing to send ${Math.round(t.proxy.shareStarved * 100)}% of the run: the pages did not keep it fed (see the start, below); a short run weighs its start more.`,
      },
    ),
    held(
      `  ${label}: all delivered, end to end`,
      t.endToEndRatio,
      `${t.endToEndSeconds.toFixed(1)} s`,
      1,
      `ideal ${t.idealSeconds.toFixed(1)} s`,
      'min',
      {
        p99: `${int(t.endToEndPerSecond)}/s`,
        note: `End to end: from the first track() to Conversion's last answer, against the least time the pacers allow: each lets 10 batches of 200 start per round of its window (1,005 ms) plus the latency it sees; the proxy towards Conversion (${ms(t.upstreamLatencyMs.mean, 1)} mean), each page towards the proxy (${ms(t.pageLatencyMs, 1)} mean from fetch to answer as the page sees it, the proxy's time included; p99 ${ms(t.pageLatencyP99Ms)}). A slot's rounds add up, so the mean latency counts; every round but the last takes a whole round, and the slower of the two bounds (here the ${t.idealBy}'s) is the ideal. Ratio = ideal / actual. At median latencies the ideal would be ${t.idealAtMedianSeconds.toFixed(1)} s (ratio ${ratioText(t.idealAtMedianSeconds / t.endToEndSeconds)}): the difference is the first round, whose ten bodies of 200 reach a proxy that checks them one after another (and, here, an emulator in the same process).`,
        missNote: `MISS, cause: the start. The first request left ${ms(t.firstRequestAfterMs)} after the first track(), the tenth ${ms(t.tenthRequestAfterMs)} after; the tracker's first head reads (${t.headReads
          .slice(0, 2)
          .map((read) => `issued at ${ms(read.at)}, ${int(read.rows)} rows, took ${ms(read.ms)}`)
          .join(
            '; ',
          )}) wait for the append transaction in progress (slices of at most 400) and for the page's own tracking tasks. The proxy had nothing to send ${Math.round(t.proxy.shareStarved * 100)}% of the run.`,
      },
    ),
    held(
      `  ${label}: tenth request left after the first track()`,
      t.tenthRequestAfterMs,
      ms(t.tenthRequestAfterMs),
      CEILINGS.firstRoundMs,
      `<= ${ms(CEILINGS.firstRoundMs)}`,
      'max',
      {
        p99: `first ${ms(t.firstRequestAfterMs)}`,
      },
    ),
    held(`  ${label}: 429s from Conversion`, t.status429, int(t.status429), 0, '0', 'zero', {
      p99: `${int(t.upstreamRequests)} requests`,
    }),
    held(
      `  ${label}: busiest sliding second at Conversion`,
      t.busiestSecond,
      `${t.busiestSecond} requests`,
      CEILINGS.upstreamRequestsPerSecond,
      `<= ${CEILINGS.upstreamRequestsPerSecond}`,
      'max',
    ),
    held(
      `  ${label}: delivered once each (missing + duplicates)`,
      t.total - t.uniqueIds + t.duplicates,
      `${int(t.uniqueIds)} of ${int(t.total)}`,
      0,
      '0',
      'zero',
      {
        p99: `${int(t.duplicates)} dup.`,
      },
    ),
  ]
  return rows
}

export function proxyRows(p) {
  const rows = []
  const us = (n) => `${int(n)} us`
  for (const size of [1, 200]) {
    const proxy = p.resent[`proxy-${size}`]
    const floor = p.resent[`floor-${size}`]
    const adapter = p.resent[`adapter-${size}`]
    const perSecond = proxy.requestsPerSecond * size
    rows.push(
      held(
        `proxy, re-sent ${size}-engagement requests: engagements/s`,
        perSecond,
        int(perSecond),
        CEILINGS.upstreamPerSecond,
        `>= ${int(CEILINGS.upstreamPerSecond)}/s`,
        'min',
        {
          p99: `${int(proxy.requestsPerSecond)} req/s`,
          note:
            size === 1
              ? `Proxy: a load generator in its own process (${p.concurrency} keep-alive connections for throughput, 1 for latency; ${p.rounds} rounds interleaving the servers, medians) re-sends ids the proxy has already forwarded, so it does all its own work (origin check, per-client guard, body read, parse, validation, identity signature, de-duplication) and answers without going upstream: with fresh ids it is paced at Conversion's 10 requests/s by design (the paced rows). Ceiling: it must keep up with Conversion's 2,000/s. CPU per request: the serving process's CPU time (all threads) per request answered, steadier than a rate when the machine is shared; plain node:http = HTTP alone (a server that reads the same body and answers), bridge = for reference, @hono/node-server's Web Request/Response bridge around a handler that only reads the body, which the proxy's Node host no longer uses (it reads Node's request straight into the proxy's exchange).`
              : `200-engagement requests: here the cost is per engagement (every field validated again, the JSON parsed); one core answers about ${int(proxy.engagementsPerCoreSecond)} re-sent engagements/s.`,
          missNote:
            size === 1
              ? `MISS for 1-engagement requests, cause: a fixed cost per request, not per engagement: of ${us(proxy.cpuPerRequestUs)} of CPU, HTTP takes ${us(floor.cpuPerRequestUs)}, the proxy's own handling ${us(proxy.cpuPerRequestUs - floor.cpuPerRequestUs)} (origin and per-client checks, the body read, parsing and validation; identity signatures are verified once each and then remembered). One core answers about ${int(1e6 / proxy.cpuPerRequestUs)} such requests/s.`
              : undefined,
        },
      ),
      size === 1
        ? held(
            `  CPU per request against plain node:http`,
            proxy.cpuPerRequestUs / floor.cpuPerRequestUs,
            `${ratioText(proxy.cpuPerRequestUs / floor.cpuPerRequestUs)}x`,
            CEILINGS.proxyCpuRatio,
            `<= ${ratioText(CEILINGS.proxyCpuRatio)}x`,
            'max',
            {
              p99: `${int(floor.cpuPerRequestUs)} / ${int(adapter.cpuPerRequestUs)} / ${int(proxy.cpuPerRequestUs)} us (plain / bridge / proxy)`,
            },
          )
        : held(
            `  CPU per engagement`,
            proxy.cpuPerRequestUs / size,
            `${(proxy.cpuPerRequestUs / size).toFixed(2)} us`,
            CEILINGS.proxyCpuPerEngagementUs,
            `<= ${CEILINGS.proxyCpuPerEngagementUs} us`,
            'max',
            {
              p99: `${int(floor.cpuPerRequestUs)} / ${int(adapter.cpuPerRequestUs)} / ${int(proxy.cpuPerRequestUs)} us (plain / bridge / proxy)`,
            },
          ),
      shown(`  latency added to one request (proxy - plain node:http)`, ms(proxy.addedMedianMs, 2), {
        p99: ms(proxy.addedP99Ms, 2),
      }),
    )
  }
  const paced200 = p.paced[200]
  const paced1 = p.paced[1]
  rows.push(
    held(
      `proxy, fresh ids, 200-engagement requests x ${paced200.concurrency}: engagements/s`,
      paced200.engagementsPerSecond,
      int(paced200.engagementsPerSecond),
      CEILINGS.upstreamPerSecond,
      `${int(CEILINGS.upstreamPerSecond)}/s`,
      'min',
      {
        p99: `lat. ${ms(paced200.latencyMedianMs)}`,
        note: `Paced: fresh ids, so every engagement goes upstream to the emulator; the latency is the pacing by design (an answer waits for ITS engagements to be acknowledged, at most 10 requests per 1,005 ms + latency).`,
      },
    ),
    held(
      `  paced: 429s / busiest second`,
      paced200.status429 + paced1.status429,
      `${paced200.status429 + paced1.status429} / ${Math.max(paced200.busiestSecond, paced1.busiestSecond)}`,
      0,
      '0 / <= 10',
      'zero',
      {
        status: paced200.status429 + paced1.status429 === 0 && Math.max(paced200.busiestSecond, paced1.busiestSecond) <= 10 ? 'ok' : 'MISS',
      },
    ),
    shown(`proxy, fresh ids, 1-engagement requests x ${paced1.concurrency}: engagements/s`, int(paced1.engagementsPerSecond), {
      p99: `${paced1.meanUpstreamBatch.toFixed(0)}/upstream req.`,
      note: `Coalescing: ${paced1.concurrency} clients each waiting for their one engagement to be acknowledged; the proxy packs them into upstream batches (mean in the p99 column) within 10 requests per second. The rate is bounded by clients / round trip (Little's law), not by the proxy.`,
    }),
  )
  return rows
}

export function outboxRows(o) {
  const n = int(o.backlog)
  const s = int(Math.round(o.small.queued / 1000) * 1000)
  return [
    shown(`outbox of ${n} (endpoint down): IndexedDB bytes`, bytes(o.big.usageBytes), {
      p99: `${int(o.bytesPerEngagement)} B each`,
      note: `Outbox: the tracker created with maxQueueSize above ${n} and an endpoint where nothing listens (it retries quickly, so its drain reads the next batch often); engagements appended 5,000 per task at ${int(o.fillPerSecond)}/s. Bytes: navigator.storage.estimate() (IndexedDB). Memory: the page's JS heap after a forced GC (CDP).`,
    }),
    held(
      `  page heap growth, ${s} -> ${n} queued`,
      o.heapGrowthBytes,
      bytes(o.heapGrowthBytes),
      CEILINGS.heapGrowthBytes,
      `<= ${bytes(CEILINGS.heapGrowthBytes)}`,
      'max',
      {
        p99: `heap ${bytes(o.big.heapUsedBytes)}`,
      },
    ),
    held(
      `  read one batch (200): ${n} vs ${s} queued`,
      o.headReadRatio,
      `${ms(o.big.headReadMs, 1)} vs ${ms(o.small.headReadMs, 1)}`,
      CEILINGS.backlogRatio,
      '<= 1.00x',
      'max',
      {
        p99: `tracker's ${ratioText(o.trackerReadRatio)}`,
        note: `Batch read: the outbox's head read (getAll of the oldest 200 sendable entries) timed in the page, and the tracker's own head reads timed by wrapping getAll (p99 column: their ratio). A read proportional to the batch has a ratio near 1.`,
      },
    ),
    held(
      `  append one engagement (track -> durable): ${n} vs ${s}`,
      o.appendRatio,
      `${ms(o.big.appendMs, 1)} vs ${ms(o.small.appendMs, 1)}`,
      CEILINGS.backlogRatio,
      '<= 1.00x',
      'max',
      {
        p99: `count ${ms(o.big.countMs, 1)} vs ${ms(o.small.countMs, 1)}`,
        missNote: `MISS, cause: to enforce maxQueueSize an append counts the sendable and held spans (outbox.ts enforceCaps: at most once a second per tab, and before any drop), and an IndexedDB count walks the range: ${ms(o.big.countMs, 1)} at ${n} against ${ms(o.small.countMs, 1)} at ${s} (p99 column). stats() pays the same (${ms(o.big.statsMs, 1)} vs ${ms(o.small.statsMs, 1)}).`,
      },
    ),
  ]
}
