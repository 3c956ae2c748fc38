/**
 * Engagements Conversion refuses must not let one client flood Conversion or starve the others.
 * One client sends a request of 200 engagements of a type Conversion refuses; finding them costs
 * upstream requests, charged to that client request's isolation budget (50 by default), and takes
 * at most every other upstream slot while other clients' engagements wait. Meanwhile another
 * client sends one engagement every 250 ms: each is delivered and answered 200. And large
 * engagements are packed under the upstream body limit instead of being sent whole and halved
 * after Conversion's 413. Over real sockets, each client from its own loopback address.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { loopbackClient, type Answer, type LoopbackClient } from './helpers/loopback-client.js'

const KEY = 'sk_live_hostile_refusals_0123456789abcdef'
const REFUSED = 'REFUSED_BY_CONVERSION'
/** The proxy's default isolation budget, per client request. */
const ISOLATION_BUDGET = 50

const stack = nodeStack(KEY)
const clients: LoopbackClient[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await stack.close()
})

function clientAt(address: string): LoopbackClient {
  const client = loopbackClient(address)
  clients.push(client)
  return client
}

const engagement = (id: string, type = 'PRODUCT_ACTIVITY', data?: Record<string, unknown>) => ({
  id,
  contactEmail: 'john@example.com',
  type,
  createdAt: '2025-08-12T09:21:45Z',
  ...(data ? { data } : {}),
})

const post = (client: LoopbackClient, proxy: RunningProxy, batch: unknown[]): Promise<Answer> => client.post(proxy.url, APP, JSON.stringify({ batch }))

describe('refusals by Conversion, from a hostile client', () => {
  it('cost at most the request’s isolation budget upstream, and another client sending every 250 ms is served throughout', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ rejectTypes: [REFUSED] })
    const proxy = await stack.proxy(emulator)
    const attacker = clientAt('127.0.0.2')
    const other = clientAt('127.0.0.3')

    const flood = post(attacker, proxy, Array.from({ length: 200 }, (_, i) => engagement(`refused-${i}`, REFUSED)))
    const answers: Answer[] = []
    for (let i = 0; i < 40; i++) {
      const sent = Date.now()
      answers.push(await post(other, proxy, [engagement(`other-${i}`)]))
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - sent))))
    }
    // Bounded: the budget is spent within a few seconds at half of Conversion's rate.
    await expect.poll(() => proxy.proxy.stats()?.backlog === 0 && proxy.proxy.stats()?.inFlight === 0, { timeout: 30_000 }).toBe(true)

    expect(answers.filter((answer) => answer.status !== 200 || JSON.parse(answer.body).accepted !== 1).map((answer) => `${answer.status} ${answer.body}`)).toEqual([])
    expect(new Set(emulator.ids())).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `other-${i}`)))
    // Every refused upstream request carried the flood's engagements (the other client's are
    // never refused): the batches they first left in (at most two: shared with the other client,
    // each takes at least half of them), then at most one budget of isolation requests.
    const refusedUpstream = emulator.requests().filter((request) => request.status === 400).length
    expect(refusedUpstream).toBeLessThanOrEqual(2 + ISOLATION_BUDGET)
    expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)

    // The flood's request is answered once its budget is spent: 503, to send the rest again (its
    // suspects are not rejected: in an honest batch most of them are valid, and a rejection is final).
    const settled = await flood
    // (Or its deadline passes first: isolation requests of one client request go one at a time.)
    expect(settled.status).toBe(503)
    expect(JSON.parse(settled.body).message).toMatch(/isolation budget of this request \(50 upstream requests\) is spent: send the rest again|not settled in time/)
    // A re-send costs at most one more budget, and makes progress: what was found refused is
    // answered from memory, so the refusals known only grow.
    const known = proxy.proxy.stats()?.refusals ?? 0
    expect(known).toBeGreaterThan(0)
    const again = await post(attacker, proxy, Array.from({ length: 200 }, (_, i) => engagement(`refused-${i}`, REFUSED)))
    expect([200, 503]).toContain(again.status)
    expect(emulator.requests().filter((request) => request.status === 400).length - refusedUpstream).toBeLessThanOrEqual(1 + ISOLATION_BUDGET)
    expect(proxy.proxy.stats()?.refusals ?? 0).toBeGreaterThan(known)
  }, 60_000)

  it('packs large engagements under the upstream body limit, so Conversion never answers 413', async () => {
    const emulator = await stack.emulator()
    // Slow answers and one request a second: the four client requests wait together and would
    // leave as one upstream batch of 200 engagements (3.3 MB) if packed by count alone.
    emulator.setFaults({ latencyMs: 300 })
    const proxy = await stack.proxy(emulator, { maxRequestsPerSecond: 1, settleTimeout: 30_000 })
    const data = { padding: 'p'.repeat(16_000) }
    const answers = await Promise.all(
      ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map((address, c) =>
        post(clientAt(address), proxy, Array.from({ length: 50 }, (_, i) => engagement(`large-${c}-${i}`, 'PRODUCT_ACTIVITY', data))),
      ),
    )

    expect(answers.map((answer) => [answer.status, JSON.parse(answer.body)])).toEqual(Array.from({ length: 4 }, () => [200, { accepted: 50, duplicates: 0, rejected: [] }]))
    const upstream = emulator.requests()
    expect(upstream.filter((request) => request.status !== 200).map((request) => `${request.status} ${request.bytes} bytes`)).toEqual([])
    expect(Math.max(...upstream.map((request) => request.bytes))).toBeLessThanOrEqual(1_000_000)
    expect(new Set(emulator.ids()).size).toBe(200)
    expect(emulator.duplicates()).toEqual([])
  }, 60_000)
})
