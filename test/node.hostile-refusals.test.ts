/**
 * Engagements Conversion refuses must not let one client flood Conversion or starve the others.
 * One client sends a request of 200 engagements of a type Conversion refuses; finding them costs
 * upstream requests, charged to that client request's isolation budget (50 by default, then the
 * suspects left are rejected unchecked), and takes
 * at most every other upstream slot while other clients' engagements wait. Meanwhile another
 * client sends one engagement every 250 ms: each is delivered and answered 200. And large
 * engagements are packed under the upstream body limit instead of being sent whole and halved
 * after Conversion's 413. Over real sockets, each client from its own loopback address.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { loopbackClient, type Answer, type LoopbackClient } from './helpers/loopback-client.js'

const KEY = 'sk_test_fake_hostile_refusals_0123456789abcdef'
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

const post = (client: LoopbackClient, proxy: RunningProxy, batch: unknown[]): Promise<Answer> =>
  client.post(proxy.url, APP, JSON.stringify({ batch }))

describe('refusals by Conversion, from a hostile client', () => {
  it('cost at most the request’s isolation budget upstream, and another client sending every 250 ms is served throughout', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ rejectTypes: [REFUSED] })
    const proxy = await stack.proxy(emulator)
    const attacker = clientAt('127.0.0.2')
    const other = clientAt('127.0.0.3')

    const flood = post(
      attacker,
      proxy,
      Array.from({ length: 200 }, (_, i) => engagement(`refused-${i}`, REFUSED)),
    )
    const answers: Answer[] = []
    for (let i = 0; i < 40; i++) {
      const sent = Date.now()
      answers.push(await post(other, proxy, [engagement(`other-${i}`)]))
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - sent))))
    }
    // Bounded: the budget is spent within a few seconds at half of Conversion's rate.
    await expect.poll(() => proxy.proxy.stats()?.backlog === 0 && proxy.proxy.stats()?.inFlight === 0, { timeout: 30_000 }).toBe(true)

    expect(
      answers
        .filter((answer) => answer.status !== 200 || JSON.parse(answer.body).accepted !== 1)
        .map((answer) => `${answer.status} ${answer.body}`),
    ).toEqual([])
    expect(new Set(emulator.ids())).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `other-${i}`)))
    // Every refused upstream request carried the flood's engagements (the other client's are
    // never refused): the batches they first left in (at most two: shared with the other client,
    // each takes at least half of them), then at most one budget of isolation requests.
    const refusedUpstream = emulator.requests().filter((request) => request.status === 400).length
    expect(refusedUpstream).toBeLessThanOrEqual(2 + ISOLATION_BUDGET)
    expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)

    // The flood's request is settled once its budget is spent: what Conversion refused alone, and
    // the suspects left unchecked, each rejected with a reason that says which. (Or its deadline
    // passed first, 503: its engagements stay queued and a re-send waits for the same answer.)
    let settled = await flood
    for (let attempt = 0; settled.status === 503 && attempt < 10; attempt++) {
      expect(JSON.parse(settled.body).message).toMatch(/not settled within/i)
      settled = await post(
        attacker,
        proxy,
        Array.from({ length: 200 }, (_, i) => engagement(`refused-${i}`, REFUSED)),
      )
    }
    expect(settled.status).toBe(200)
    const { accepted, rejected } = JSON.parse(settled.body) as { accepted: number; rejected: { id: string; reason: string }[] }
    expect(accepted).toBe(0)
    expect(rejected).toHaveLength(200)
    const unchecked = rejected.filter(({ reason }) => /isolation budget of its request \(50 upstream requests\) was spent/.test(reason))
    expect(unchecked.length).toBeGreaterThan(0)
    expect(unchecked.length).toBeLessThan(200)
    // The re-sends joined the queued engagements: still at most one budget for the request.
    expect(emulator.requests().filter((request) => request.status === 400).length).toBeLessThanOrEqual(2 + ISOLATION_BUDGET)
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
        post(
          clientAt(address),
          proxy,
          Array.from({ length: 50 }, (_, i) => engagement(`large-${c}-${i}`, 'PRODUCT_ACTIVITY', data)),
        ),
      ),
    )

    expect(answers.map((answer) => [answer.status, JSON.parse(answer.body)])).toEqual(
      Array.from({ length: 4 }, () => [200, { accepted: 50, duplicates: 0, rejected: [] }]),
    )
    const upstream = emulator.requests()
    expect(upstream.filter((request) => request.status !== 200).map((request) => `${request.status} ${request.bytes} bytes`)).toEqual([])
    expect(Math.max(...upstream.map((request) => request.bytes))).toBeLessThanOrEqual(1_000_000)
    expect(new Set(emulator.ids()).size).toBe(200)
    expect(emulator.duplicates()).toEqual([])
  }, 60_000)
})
