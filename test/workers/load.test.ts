import { describe, expect, it } from 'vitest'
import worker from '../../src/adapters/cloudflare/worker.js'
import { simulateLoad, summaryLine, type Answer } from './load/simulation.js'
import { APP, emulator, objectMode, RELAY } from './helpers.js'

/**
 * The load simulation of `scripts/load-edge.mjs`, smaller, in the suite: here the ingress runs in
 * the test's own isolate (the script runs several ingress isolates, and a longer overload).
 */
describe('load through the Durable Object', () => {
  it('holds the limits, sends each id once, loses nothing through faults, and keeps the pipe full', async () => {
    const bindings = objectMode()
    const send = async (_client: number, body: string): Promise<Answer> => {
      try {
        const request = new Request(RELAY, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body })
        const response = await worker.fetch(request, bindings)
        return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() }
      } catch {
        return { status: 0, retryAfter: null, text: '' }
      }
    }
    const report = await simulateLoad({
      send,
      emulator,
      clients: 50,
      engagements: 20_000,
      faultEngagements: 2_000,
      errorsMs: 3_000,
      stormMs: 2_000,
      timeLimitMs: 90_000,
      runId: `load-${Date.now()}`,
      log: (line) => console.log(line),
    })
    console.log(summaryLine(report))
    expect(report.lost).toBe(0)
    expect(report.duplicates).toBe(0)
    expect(report.busiestWindow).toBeLessThanOrEqual(10)
    expect(report.maxPerRequest).toBeLessThanOrEqual(200)
    expect(report.upstream429).toBeGreaterThan(0)
    expect(report.upstream500).toBeGreaterThan(0)
    // Measured here on two idle cores: about 98% steady, 92% over the busy period (a burst from
    // idle starts slowly: the first ten requests leave with what the first client requests
    // carry, about 6% of this 10-second overload). The thresholds leave room for a busy CI
    // machine and still catch a pacer or a packing that wastes a fifth of the ceiling;
    // `scripts/load-edge.mjs` measures the 90% over a longer overload and several isolates.
    expect(report.steady.percent).toBeGreaterThanOrEqual(85)
    expect(report.busy.percent).toBeGreaterThanOrEqual(80)
  }, 120_000)
})
