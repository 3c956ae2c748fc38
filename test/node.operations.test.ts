/**
 * The Node proxy in operation, over real sockets against the emulator: health checks answered
 * before the proxy's own checks, readiness that follows what the proxy can do, Prometheus
 * metrics on a port of their own, a graceful stop, and the option checks of what serveProxy adds.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { serveProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'
import { recordingLogger } from './helpers/proxy.js'
import { until } from './helpers/until.js'

const KEY = 'sk_test_operations_0123456789abcdef'
const stack = nodeStack(KEY)
afterEach(() => stack.close())

/** The value of one sample of the exposition text, such as `metric(text, 'x_total', 'status="200"')`; undefined when absent. */
function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(labels ? `${name}{${labels}} ` : `${name} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

const scrape = async (url: string | undefined) => (await fetch(url as string)).text()

describe('health checks', () => {
  it('answers /healthz and /readyz before the path and origin checks, with no Origin header', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    for (const path of ['/healthz', '/readyz']) {
      const response = await fetch(`${proxy.origin}${path}`)
      expect(response.status, path).toBe(200)
      expect(response.headers.get('cache-control')).toBe('no-store')
    }
    expect(await (await fetch(`${proxy.origin}/readyz`)).json()).toEqual({ status: 'ready' })
    // Everything else still meets the proxy's checks.
    expect((await fetch(`${proxy.origin}/metrics`)).status).toBe(404)
    expect((await fetch(proxy.url, { method: 'POST', body: '{}' })).status).toBe(403)
  })

  it('is not ready while Conversion refuses the key (halted), and says why without the key', async () => {
    const emulator = await stack.emulator({ apiKey: 'sk_test_another_key' })
    const { logger } = recordingLogger()
    const proxy = await stack.proxy(emulator, { logger })
    expect((await postIds(proxy, ['halt-1'])).status).toBe(503)
    const ready = await fetch(`${proxy.origin}/readyz`)
    expect(ready.status).toBe(503)
    const body = (await ready.json()) as { status: string; reason: string }
    expect(body.status).toBe('unavailable')
    expect(body.reason).toMatch(/Conversion refuses this proxy.*401/)
    expect(JSON.stringify(body)).not.toContain(KEY)
    expect((await fetch(`${proxy.origin}/healthz`)).status).toBe(200)
  })
})

describe('metrics', () => {
  it('serves nothing unless asked: no metrics port by default', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    expect(proxy.metricsUrl).toBeUndefined()
  })

  it('counts client answers by status, engagements by outcome, upstream requests by status, pacer waits and the backlog, never the key', async () => {
    // Every other upstream request fails with 500, by a fixed pattern.
    let draw = 0
    const emulator = await stack.emulator({ random: () => (draw++ % 2 === 0 ? 0 : 0.99) })
    const proxy = await stack.proxy(emulator, { metricsPort: 0, maxRequestsPerSecond: 2, retryBaseDelay: 1, retryMaxDelay: 1 })
    expect(proxy.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(new URL(proxy.metricsUrl as string).port).not.toBe(String(proxy.port))
    emulator.setFaults({ errorRate: 0.5 })
    expect((await postIds(proxy, ['m-1', 'm-2'])).status).toBe(200)
    emulator.setFaults({ errorRate: 0 })
    const answers = await Promise.all([postIds(proxy, ['m-1']), ...['m-3', 'm-4', 'm-5', 'm-6'].map((id) => postIds(proxy, [id]))])
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200])
    const refused = await fetch(proxy.url, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: '{' })
    expect(refused.status).toBe(400)

    const text = await scrape(proxy.metricsUrl)
    expect(metric(text, 'conversion_engagements_client_requests_total', 'status="200"')).toBe(6)
    expect(metric(text, 'conversion_engagements_client_requests_total', 'status="400"')).toBe(1)
    expect(metric(text, 'conversion_engagements_engagements_total', 'outcome="accepted"')).toBe(6)
    expect(metric(text, 'conversion_engagements_engagements_total', 'outcome="duplicate"')).toBe(1)
    expect(metric(text, 'conversion_engagements_engagements_total', 'outcome="rejected"')).toBe(0)
    expect(metric(text, 'conversion_engagements_upstream_requests_total', 'status="500"')).toBe(1)
    expect(metric(text, 'conversion_engagements_upstream_requests_total', 'status="200"')).toBeGreaterThanOrEqual(2)
    // Two starts per second: the five requests above could not all start at once.
    expect(metric(text, 'conversion_engagements_pacer_waits_total')).toBeGreaterThan(0)
    expect(metric(text, 'conversion_engagements_backlog')).toBe(0)
    expect(metric(text, 'conversion_engagements_ready')).toBe(1)
    expect(metric(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(text).not.toContain(KEY)
    // A scrape reads the totals again without counting them twice.
    expect(metric(await scrape(proxy.metricsUrl), 'conversion_engagements_engagements_total', 'outcome="accepted"')).toBe(6)
  })
})

describe('graceful stop', () => {
  it('answers the request in flight, turns new ones away with 503 and Retry-After, then closes', async () => {
    const emulator = await stack.emulator({ faults: { latencyMs: 1_500 } })
    const proxy = await serveProxy({ apiKey: KEY, allowedOrigins: [APP], upstreamUrl: emulator.url, clientRateLimit: false })
    const inFlight = postIds(proxy, ['stop-1', 'stop-2'])
    await until(() => emulator.requests().some((request) => request.status === null))
    const stopping = proxy.shutdown()
    expect(proxy.readiness()).toEqual({ ready: false, reason: 'the proxy is shutting down' })
    expect((await fetch(`${proxy.origin}/readyz`)).status).toBe(503)
    const late = await postIds(proxy, ['stop-3'])
    expect(late.status).toBe(503)
    expect(late.headers.get('retry-after')).toBe('1')
    expect(late.headers.get('access-control-allow-origin')).toBe(APP)
    const answer = await inFlight
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    await stopping
    await expect(fetch(`${proxy.origin}/healthz`)).rejects.toThrow()
    expect(emulator.ids()).toEqual(['stop-1', 'stop-2'])
  })
})

describe('options serveProxy adds', () => {
  const base = { apiKey: KEY, allowedOrigins: [APP] }

  it('refuses a metrics port out of range, naming the option, the value and the range', async () => {
    await expect(serveProxy({ ...base, metricsPort: 70_000 })).rejects.toThrow(
      /`metricsPort` must be a whole number from 0 to 65535 \(got 70000\)/,
    )
  })

  it('refuses redisUrl with a state file or an injected pacer, and a URL that is not Redis without quoting it', async () => {
    await expect(serveProxy({ ...base, redisUrl: 'redis://127.0.0.1:1', stateFile: '/tmp/x.log' })).rejects.toThrow(
      /`stateFile` or `redisUrl`, not both/,
    )
    const pacer = { reserve: () => ({ granted: false as const, waitMs: 1 }) }
    await expect(serveProxy({ ...base, redisUrl: 'redis://127.0.0.1:1', pacer })).rejects.toThrow(/`redisUrl` or `pacer`, not both/)
    const refused = serveProxy({ ...base, redisUrl: 'http://user:hunter2@redis.internal' })
    await expect(refused).rejects.toThrow(/`redisUrl` must be a redis:\/\/ or rediss:\/\/ URL/)
    await expect(refused).rejects.not.toThrow(/hunter2/)
  })
})
