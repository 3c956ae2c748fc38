/**
 * The proxy's Prometheus metrics, on prom-client. Counters the Coalescer keeps already (its
 * `stats().totals`) are read at scrape time; what only the host sees (answers to clients,
 * upstream statuses, pacer waits, Redis failures) is counted as it happens, through
 * {@link PortObserver}. No label holds anything a client chose, so the series stay few; and
 * nothing holds the API key.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { CoalescerStats, CoalescerTotals } from '../../core/coalescer/index.js'
import type { PortObserver } from './observed-ports.js'

/** What the metrics read at each scrape. */
export interface MetricSources {
  /** The in-process Coalescer's state. */
  stats(): CoalescerStats | undefined
  /** Whether the proxy can forward now (what `/readyz` answers). */
  ready(): boolean
  /** Whether Redis answered lately; absent without Redis. */
  redisReachable?: (() => boolean) | undefined
}

/** The metrics of one proxy server. */
export interface ProxyMetrics {
  /** Counts one answer to a client request. */
  clientAnswer(status: number): void
  /** What the ports report (upstream statuses, pacer waits, Redis failures). */
  observer: PortObserver
  /** The exposition text and its content type, as Prometheus scrapes them. */
  scrape(): Promise<{ contentType: string; text: string }>
}

const PREFIX = 'conversion_engagements_'

/** The Coalescer's totals exported as engagement outcomes, and what each is called. */
const OUTCOMES: [label: string, total: keyof CoalescerTotals][] = [
  ['accepted', 'accepted'],
  ['duplicate', 'duplicates'],
  ['rejected', 'rejected'],
]

/** Node's process metrics, once created. */
let processRegistry: Registry | undefined

/**
 * Node's process metrics, collected once per process in a registry of their own, created at the
 * first server with metrics. Their collectors (a gc observer, an event-loop monitor) are never
 * removed: installed once per server, they would hold every server ever closed.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * Creates the metrics of one server in a registry of its own, so that several servers in one
 * process (tests, a host serving two keys) never share or clash, and nothing outlives a closed
 * server; each scrape adds the process metrics.
 */
export function createProxyMetrics(sources: MetricSources): ProxyMetrics {
  const registry = new Registry()
  const registers = [registry]
  const processWide = processMetrics()

  const clientRequests = new Counter({
    name: `${PREFIX}client_requests_total`,
    help: 'Client requests answered on the proxy path, by HTTP status (health checks not counted).',
    labelNames: ['status'],
    registers,
  })
  const upstreamRequests = new Counter({
    name: `${PREFIX}upstream_requests_total`,
    help: 'Requests to Conversion, by the HTTP status of the answer; "error" when none came (timeout, network).',
    labelNames: ['status'],
    registers,
  })
  const pacerWaits = new Counter({
    name: `${PREFIX}pacer_waits_total`,
    help: 'Times an upstream request had to wait for the limit of requests per second (all senders of the key together in a fleet).',
    registers,
  })
  const redisErrors = new Counter({
    name: `${PREFIX}redis_errors_total`,
    help: 'Calls to Redis that failed, by port (pacer or memory); the proxy answers 503 meanwhile.',
    labelNames: ['port'],
    registers,
  })
  // Totals the Coalescer counts are carried over by their growth since the last scrape.
  const seen = new Map<string, number>()
  new Counter({
    name: `${PREFIX}engagements_total`,
    help: 'Engagements settled, by outcome: accepted by Conversion, duplicate of one delivered before, rejected for good.',
    labelNames: ['outcome'],
    registers,
    collect() {
      const totals = sources.stats()?.totals
      if (!totals) return
      for (const [outcome, total] of OUTCOMES) {
        const growth = totals[total] - (seen.get(outcome) ?? 0)
        seen.set(outcome, totals[total])
        // Growth 0 still shows the series, so a dashboard sees 0 rather than nothing.
        this.inc({ outcome }, Math.max(0, growth))
      }
    },
  })
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers,
      collect() {
        const value = read()
        if (value !== undefined) this.set(value)
      },
    })
  gauge('backlog', 'Engagements waiting to be sent upstream.', () => sources.stats()?.backlog)
  gauge('in_flight', 'Engagements in upstream requests awaiting their answer.', () => sources.stats()?.inFlight)
  gauge('held_bytes', 'Bytes of memory the engagements held take, against maxHeldBytes.', () => sources.stats()?.heldBytes)
  gauge('ready', '1 while the proxy can forward (what /readyz answers), else 0.', () => (sources.ready() ? 1 : 0))
  if (sources.redisReachable) {
    const reachable = sources.redisReachable
    gauge('redis_reachable', '1 while Redis answers, else 0 (the proxy fails closed).', () => (reachable() ? 1 : 0))
  }

  return {
    clientAnswer: (status) => clientRequests.inc({ status: String(status) }),
    observer: {
      upstream: (status) => upstreamRequests.inc({ status }),
      pacerWait: () => pacerWaits.inc(),
      portError: (port) => redisErrors.inc({ port }),
    },
    scrape: async () => ({ contentType: registry.contentType, text: await Registry.merge([processWide, registry]).metrics() }),
  }
}
