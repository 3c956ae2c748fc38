/**
 * One client must not be able to fill the proxy's queue and make every other client wait behind
 * it. One address runs 150 workers over 60 connections, each sending 200 fresh engagements per
 * request and coming back 250 ms after any refusal (it ignores `Retry-After`): more than
 * Conversion's 2,000 engagements a second, so a queue builds. Another client sends one
 * engagement every 250 ms. With fair sharing per client, each of its engagements leaves in one
 * of the next upstream requests, whatever the first client has queued: with the per-client limit
 * at its default (it counts engagements too, 10,000 per 10 s) and without it, where the
 * Coalescer's sharing alone must do it. Measured in upstream requests at the emulator, not in
 * time; the reliability suite reports the latency.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { APP, nodeStack } from './helpers/node-stack.js'
import { loopbackClient, type LoopbackClient } from './helpers/loopback-client.js'

const KEY = 'sk_test_fake_hostile_sharing_0123456789abcdef'
/** The proxy's defaults, written out: the node stack turns the per-client limit off otherwise. */
const CLIENT_RATE_LIMIT = { requests: 200, engagements: 10_000, windowMs: 10_000 }
/**
 * Upstream requests that may start after the other client sends and before the one carrying its
 * engagement: one pacing window (10) while its request waits to be read among the greedy
 * client's bodies, another while it waits for a slot, and the one that carries it. Without fair
 * sharing it is the whole queue: 60 to 220 requests.
 */
const MOST_BEHIND = 2 * 10 + 1

const stack = nodeStack(KEY)
const clients: LoopbackClient[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await stack.close()
})

const engagement = (id: string) => ({ id, contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('one client filling the proxy', () => {
  // Without the per-client limit at the door, the Coalescer's sharing alone must keep it fair.
  it.each([
    ['with the default per-client limit', CLIENT_RATE_LIMIT],
    ['with no per-client limit, by fair sharing alone', false as const],
  ])(
    'does not hold back another client, %s: each of its engagements leaves within the next upstream requests',
    async (_, clientRateLimit) => {
      const emulator = await stack.emulator()
      const proxy = await stack.proxy(emulator, { clientRateLimit })
      const greedy = loopbackClient('127.0.0.2', { connections: 60 })
      const other = loopbackClient('127.0.0.3')
      clients.push(greedy, other)

      let stop = false
      const statuses = new Map<number, number>()
      let withoutRetryAfter = 0
      const workers = Array.from({ length: 150 }, async (_, worker) => {
        for (let round = 0; !stop; round++) {
          const batch = Array.from({ length: 200 }, (_, i) => engagement(`greedy-${worker}-${round}-${i}`))
          const answer = await greedy.post(proxy.url, APP, JSON.stringify({ batch }))
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
          if (answer.status === 429 || answer.status === 503) {
            if (answer.retryAfter === undefined) withoutRetryAfter++
            await sleep(250)
          }
        }
      })
      // The queue is built before the other client starts.
      await expect.poll(() => proxy.proxy.stats()?.backlog ?? 0, { timeout: 10_000 }).toBeGreaterThan(2_000)

      // On a fixed schedule, whether earlier answers came or not.
      const sending: Promise<{ id: string; lastBefore: number; status: number; body: string }>[] = []
      for (let i = 0; i < 40; i++) {
        const id = `other-${i}`
        const lastBefore = emulator.requests().at(-1)?.seq ?? 0
        sending.push(
          other
            .post(proxy.url, APP, JSON.stringify({ batch: [engagement(id)] }))
            .then(({ status, body }) => ({ id, lastBefore, status, body })),
        )
        await sleep(250)
      }
      const waits = await Promise.all(sending)
      stop = true
      await Promise.all(workers)

      expect(
        waits
          .filter(({ status, body }) => status !== 200 || JSON.parse(body).accepted !== 1)
          .map(({ id, status, body }) => `${id}: ${status} ${body}`),
      ).toEqual([])
      const carriedBy = new Map(emulator.engagements().map((record) => [record.engagement.id, record.requestSeq]))
      // Upstream requests that started after the other client sent, up to the one that carried its engagement.
      const behind = waits.map(({ id, lastBefore }) => (carriedBy.get(id) ?? Infinity) - lastBefore)
      expect(behind.filter((count) => count > MOST_BEHIND)).toEqual([])
      // The greedy client was told to slow down, with a time to come back, and nothing was forwarded twice.
      expect(statuses.get(429) ?? 0).toBeGreaterThan(0)
      expect(withoutRetryAfter).toBe(0)
      expect(emulator.duplicates()).toEqual([])
      expect(emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)
    },
    90_000,
  )
})
