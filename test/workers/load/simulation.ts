/**
 * A load simulation of the proxy with the emulator as Conversion: many clients, each behaving
 * like the browser tracker (an outbox, batches of 1 to 200, re-sends after 429/503 honouring
 * `Retry-After`, re-sends of answers they did not hear), send through the ingress while the
 * upstream goes through an overload, a spell of 50% 500s and a 429 storm.
 *
 * Runtime-neutral (Web APIs only), so the same code runs inside workerd (the Workers test
 * suite) and in Node (`scripts/load-edge.mjs`, which drives workerd through Miniflare).
 */

import { emulatorControl, emulatorPages, emulatorSummary } from './emulator-routes.js'

/** What one client request got back from the ingress; status 0 for a network error. */
export interface Answer {
  status: number
  retryAfter: string | null
  text: string
}

/** Options of {@link simulateLoad}. */
export interface LoadOptions {
  /** Sends one client request body to the proxy; `client` may choose the ingress it goes through. */
  send: (client: number, body: string) => Promise<Answer>
  /** The emulator's origin, for its inspection routes (`/__emulator/`). */
  emulator: string
  /** Simulated clients (browser tabs). */
  clients: number
  /** Engagements tracked, in bursts, at the start of the overload phase. */
  engagements: number
  /** Engagements tracked during the faults. */
  faultEngagements: number
  /**
   * How long Conversion fails half of the requests with 500, then how long it answers every one
   * 429, in ms: each at least that long, and until it has met 3 requests.
   */
  errorsMs: number
  stormMs: number
  /** The whole run gives up after this long, in ms: what is not delivered by then counts as lost. */
  timeLimitMs: number
  /** Prefix of every id, so runs against a long-lived proxy never share ids. */
  runId: string
  random?: () => number
  log?: (line: string) => void
  /** Logs when each upstream request of the overload arrived and what it carried, to see where time goes. */
  timeline?: boolean
}

/** What the simulation measured. */
export interface LoadReport {
  clients: number
  /** Distinct engagements tracked by the clients. */
  engagements: number
  /** Of those, how many the emulator recorded. */
  delivered: number
  /** Ids the emulator recorded more than once. */
  duplicates: number
  lost: number
  /** The most request starts the emulator saw in any sliding window of 1 s. */
  busiestWindow: number
  /** The most engagements in one upstream request. */
  maxPerRequest: number
  /** Upstream requests the emulator refused with 429 (the storm) and failed with 500. */
  upstream429: number
  upstream500: number
  /** Client requests sent, re-sends included, and how many of them were answered 429/503. */
  clientRequests: number
  retried: number
  /** Re-sends of batches already answered 200 (lost answers, second tabs, beacon plus fetch). */
  resent: number
  /** The overload: engagements delivered over its busy period, and the rate (see {@link busyPeriod}). */
  busy: Rate
  /** The same without its first slot cycle, the slow start. */
  steady: Rate
  /**
   * Where a slot's time goes in the steady state, in ms: a whole cycle (from a request's arrival
   * to the arrival of the one that reuses its slot), of which the emulator spent `upstreamMs` on
   * the request; the pacer adds its 1,005 ms window; the rest is transit and timers.
   */
  cycle: { cycleMs: number; upstreamMs: number }
  elapsedMs: number
}

/** Engagements delivered over a period, and the rate as a share of the ceiling. */
export interface Rate {
  engagements: number
  seconds: number
  perSecond: number
  percent: number
}

/** Conversion's ceiling: 10 requests of 200 engagements per second. */
export const CEILING_PER_SECOND = 2_000

interface Item {
  id: string
  contactEmail: string
  type: string
  name: string
  createdAt: string
}

/** One request as the emulator logged it. */
export interface LogEntry {
  seq: number
  at: number
  status: number | null
  count: number
  durationMs: number | null
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** Runs the simulation; resolves with what was measured (it does not judge it). */
export async function simulateLoad(options: LoadOptions): Promise<LoadReport> {
  const random = options.random ?? Math.random
  const log = options.log ?? (() => {})
  const started = Date.now()
  const deadline = started + options.timeLimitMs
  const tracked = new Set<string>()
  const counters = { clientRequests: 0, retried: 0, resent: 0 }
  /** Re-sends nobody waits for (a lost answer, another tab): awaited before the count. */
  const strays = new Set<Promise<void>>()
  const stray = (delivery: Promise<void>) => {
    strays.add(delivery)
    void delivery.finally(() => strays.delete(delivery))
  }

  await emulatorControl(options.emulator, 'reset', {})

  /** One client: an outbox it drains in batches of 1 to 200, one request at a time, sometimes two. */
  class Client {
    outbox: Item[] = []
    /** Ids taken by a request not yet answered 200. */
    reserved = new Set<string>()

    constructor(readonly index: number) {}

    track(count: number, phase: string): void {
      for (let i = 0; i < count; i++) {
        const id = `${options.runId}-${phase}-${tracked.size}`
        tracked.add(id)
        this.outbox.push({
          id,
          contactEmail: `user${this.index}@example.com`,
          type: 'PRODUCT_ACTIVITY',
          name: 'Report exported',
          createdAt: new Date().toISOString(),
        })
      }
    }

    /** Sends until the outbox is empty and `more()` says nothing else is coming. */
    async run(more: () => boolean): Promise<void> {
      while (Date.now() < deadline) {
        const batch = this.take(1 + Math.floor(random() * 200))
        if (batch.length === 0) {
          if (!more() && this.outbox.length === 0) return
          await sleep(20)
          continue
        }
        const lanes = [this.deliver(batch)]
        const roll = random()
        // A second request at once: the same batch (a beacon and a fetch), or the next one.
        if (roll < 0.05) {
          counters.resent++
          lanes.push(this.deliver(batch, false))
        } else if (roll < 0.15) {
          const next = this.take(1 + Math.floor(random() * 200))
          if (next.length > 0) lanes.push(this.deliver(next))
        }
        await Promise.all(lanes)
      }
    }

    take(size: number): Item[] {
      const batch: Item[] = []
      for (const item of this.outbox) {
        if (batch.length === size) break
        if (!this.reserved.has(item.id)) batch.push(item)
      }
      for (const item of batch) this.reserved.add(item.id)
      return batch
    }

    /** Sends `batch` until it is answered 200, as the tracker does. */
    async deliver(batch: Item[], settle = true): Promise<void> {
      const body = JSON.stringify({ batch })
      for (let failures = 0; Date.now() < deadline; ) {
        counters.clientRequests++
        const answer = await options.send(this.index, body)
        if (answer.status === 200) {
          if (settle) this.settled(batch)
          return
        }
        if (answer.status !== 429 && answer.status !== 503 && answer.status !== 0) {
          // The tracker stops on these too: the batch stays undelivered, and counts as lost.
          log(`client ${this.index}: unexpected ${answer.status} ${answer.text.slice(0, 200)}`)
          return
        }
        counters.retried++
        const seconds = Number(answer.retryAfter)
        const waitMs = seconds > 0 ? seconds * 1000 : random() * Math.min(30_000, 1_000 * 2 ** failures)
        failures++
        await sleep(Math.min(waitMs, deadline - Date.now()))
      }
    }

    settled(batch: Item[]): void {
      const ids = new Set(batch.map((item) => item.id))
      this.outbox = this.outbox.filter((item) => !ids.has(item.id))
      for (const id of ids) this.reserved.delete(id)
      const roll = random()
      if (roll < 0.08) {
        // The answer was lost on the way: the same batch again, later.
        counters.resent++
        stray(this.deliver(batch, false))
      } else if (roll < 0.12) {
        // Another tab of the same user had them queued too.
        counters.resent++
        const other = clients[Math.floor(random() * clients.length)] as Client
        stray(other.deliver(batch, false))
      }
    }
  }

  const clients = Array.from({ length: options.clients }, (_, index) => new Client(index))

  /** Tracks `total` engagements over the clients in bursts spread over `spreadMs`. */
  const bursts = (total: number, spreadMs: number, phase: string) => {
    let left = total
    const timers: Promise<void>[] = []
    while (left > 0) {
      const size = Math.min(left, 1 + Math.floor(random() * 400))
      left -= size
      const client = clients[Math.floor(random() * clients.length)] as Client
      timers.push(sleep(random() * spreadMs).then(() => client.track(size, phase)))
    }
    return Promise.all(timers)
  }

  // The overload: far more than 2,000 engagements a second, within the first second.
  const overloadStart = Date.now()
  let tracking = true
  const overloadBursts = bursts(options.engagements, 1_000, 'a').then(() => void (tracking = false))
  await Promise.all([overloadBursts, ...clients.map((client) => client.run(() => tracking))])
  await untilRecorded()
  const overloadEnd = Date.now()
  log(`overload delivered in ${overloadEnd - overloadStart} ms`)

  // The faults, with clients tracking more meanwhile.
  tracking = true
  const faultBursts = bursts(options.faultEngagements, options.stormMs + options.errorsMs, 'b').then(() => void (tracking = false))
  // Each fault lasts its time and until it has met a few requests: the proxy backs off after
  // failures, and could otherwise sit out a short fault entirely.
  const faults = (async () => {
    await fault({ errorRate: 0.5 }, 500, options.errorsMs)
    await fault({ errorRate: 0, rateLimitStorm: true }, 429, options.stormMs)
    await emulatorControl(options.emulator, 'faults', { rateLimitStorm: false })
    log('faults cleared')
  })()
  await Promise.all([faultBursts, faults, ...clients.map((client) => client.run(() => tracking))])
  while (strays.size > 0) await Promise.all(strays)
  await untilRecorded()

  const summary = await emulatorSummary(options.emulator)
  const recorded = await emulatorPages<{ engagement: { id: string } }>(options.emulator, 'engagements')
  const requests = await emulatorPages<LogEntry>(options.emulator, 'requests')
  if (options.timeline) {
    const first = requests[0]?.at ?? 0
    const overload = requests.filter((entry) => entry.at <= overloadEnd)
    log(
      `overload upstream requests (ms from the first:engagements): ${overload.map((entry) => `${entry.at - first}:${entry.count}`).join(' ')}`,
    )
  }
  const seen = new Set(recorded.map((item) => item.engagement.id))
  let delivered = 0
  for (const id of tracked) if (seen.has(id)) delivered++

  return {
    clients: options.clients,
    engagements: tracked.size,
    delivered,
    duplicates: summary.duplicates.length,
    lost: tracked.size - delivered,
    busiestWindow: summary.maxStartsInAnyWindow,
    maxPerRequest: requests.reduce((most, entry) => Math.max(most, entry.count), 0),
    upstream429: requests.filter((entry) => entry.status === 429).length,
    upstream500: requests.filter((entry) => entry.status === 500).length,
    ...counters,
    ...busyPeriod(requests.filter((entry) => entry.at >= overloadStart && entry.at <= overloadEnd)),
    elapsedMs: Date.now() - started,
  }

  /**
   * Waits until the emulator holds as many records as engagements were tracked: at once when the
   * proxy answers after delivery, a while in queue mode, where it answers once enqueued.
   */
  async function untilRecorded(): Promise<void> {
    while (Date.now() < deadline) {
      const { engagements } = await emulatorSummary(options.emulator)
      if (engagements >= tracked.size) return
      await sleep(200)
    }
  }

  /** Sets `faults` for at least `minMs`, and until 3 upstream requests were answered `status` (20 s more at most). */
  async function fault(faults: object, status: number, minMs: number): Promise<void> {
    const answered = async () =>
      (await emulatorPages<LogEntry>(options.emulator, 'requests')).filter((entry) => entry.status === status).length
    const before = await answered()
    await emulatorControl(options.emulator, 'faults', faults)
    const until = Math.min(deadline, Date.now() + minMs + 20_000)
    await sleep(minMs)
    while (Date.now() < until && (await answered()) - before < 3) await sleep(200)
  }
}

/**
 * The rate over the busy period of the overload, counted in whole slot cycles. Conversion's
 * limit gives 10 slots; an upstream request holds one from its start until a window after its
 * answer, so the (n + 10)th request cannot start before the nth one's slot is free again, and
 * requests n to n + 10k - 1 are exactly k cycles of every slot, taking `at[n + 10k] - at[n]`.
 *
 * `busy` runs from the first request, its slow start included (the first requests leave as soon
 * as the first client requests arrive, with whatever they carry), to the last full batch, after
 * which demand was below the ceiling. `steady` leaves out the first cycle.
 */
export function busyPeriod(requests: readonly LogEntry[]): Pick<LoadReport, 'busy' | 'steady' | 'cycle'> {
  const accepted = requests.filter((entry) => entry.status === 200)
  let lastFull = -1
  accepted.forEach((entry, index) => {
    if (entry.count === 200) lastFull = index
  })
  const steady = cycles(accepted, SLOTS, lastFull)
  // The steady state's whole cycles, as `cycles` counts them: k cycles from request 10 to 10 + 10k.
  const inSteady = accepted.slice(SLOTS, SLOTS + (steady.engagements > 0 ? Math.floor((lastFull - SLOTS) / SLOTS) * SLOTS : 0))
  const upstreamMs = inSteady.reduce((sum, entry) => sum + (entry.durationMs ?? 0), 0) / Math.max(1, inSteady.length)
  const cycleMs = inSteady.length === 0 ? 0 : (steady.seconds * 1_000 * SLOTS) / inSteady.length
  return { busy: cycles(accepted, 0, lastFull), steady, cycle: { cycleMs, upstreamMs } }
}

const SLOTS = 10

function cycles(requests: readonly LogEntry[], from: number, lastFull: number): Rate {
  const to = from + Math.floor((lastFull - from) / SLOTS) * SLOTS
  const first = requests[from]
  const end = requests[to]
  if (to <= from || !first || !end) return { engagements: 0, seconds: 0, perSecond: 0, percent: 0 }
  const engagements = requests.slice(from, to).reduce((sum, entry) => sum + entry.count, 0)
  const seconds = (end.at - first.at) / 1_000
  const perSecond = engagements / seconds
  return { engagements, seconds, perSecond, percent: (100 * perSecond) / CEILING_PER_SECOND }
}

/** The report as one line. */
export function summaryLine(report: LoadReport): string {
  const { busy, steady } = report
  return [
    `clients=${report.clients}`,
    `engagements=${report.engagements}`,
    `delivered=${report.delivered}`,
    `duplicates-at-emulator=${report.duplicates}`,
    `lost=${report.lost}`,
    `busiest-window=${report.busiestWindow}/s`,
    `max-per-request=${report.maxPerRequest}`,
    `upstream-429s=${report.upstream429} upstream-500s=${report.upstream500}`,
    `throughput=${Math.round(busy.perSecond)}/s (${busy.percent.toFixed(1)}% of ${CEILING_PER_SECOND}/s over ${busy.seconds.toFixed(1)} s busy;` +
      ` ${steady.percent.toFixed(1)}% after the first second, slot cycle ${report.cycle.cycleMs.toFixed(0)} ms of which upstream ${report.cycle.upstreamMs.toFixed(0)} ms)`,
    `client-requests=${report.clientRequests} (retried ${report.retried}, re-sent ${report.resent})`,
    `elapsed=${(report.elapsedMs / 1000).toFixed(1)} s`,
  ].join(' ')
}
