import { createExecutionContext, createMessageBatch, getQueueResult, SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import type { Engagement } from '../../src/contract.js'
import type { Parcel } from '../../src/core/coalescer/index.js'
import type { SubmitResult } from '../../src/core/coalescer/index.js'
import { drainQueue, queueSubmitter, retryDelaySeconds } from '../../src/adapters/cloudflare/queue.js'
import worker, { type DeadLetter, type QueuedEngagements, type QueueProducer } from '../../src/adapters/cloudflare/worker.js'
import { engagement, eventually, keyObject, parcelsOf, recorded, relayRequest, resetEmulator, summary } from './helpers.js'

/** What the test-only consumer of the dead-letter queue received. */
async function deadLetters(): Promise<unknown[]> {
  return (await (await env.DEAD_LETTER_INBOX.fetch('http://inbox/')).json()) as unknown[]
}

/** Waits until the emulator recorded every one of `ids`. */
const delivered = (ids: string[]) =>
  eventually(async () => {
    const seen = new Set(await recorded())
    return ids.every((id) => seen.has(id)) ? true : undefined
  })

beforeEach(async () => {
  await resetEmulator()
  await env.DEAD_LETTER_INBOX.fetch('http://inbox/', { method: 'DELETE' })
})

describe('queue mode (the configured mode: SELF has the queue)', () => {
  it('answers once the request is enqueued, and the consumer delivers it through the object', async () => {
    const refused = { ...engagement('q-bad'), createdAt: 'yesterday' }
    const response = await SELF.fetch(relayRequest([engagement('q-1'), engagement('q-2'), engagement('q-1'), refused]))
    expect(response.status).toBe(200)
    const settlement = (await response.json()) as { accepted: number; duplicates: number; rejected: { id: string }[] }
    expect(settlement).toMatchObject({ accepted: 2, duplicates: 1, rejected: [{ id: 'q-bad' }] })
    await delivered(['q-1', 'q-2'])
    expect(await recorded()).toEqual(['q-1', 'q-2'])
  })

  it('delivers a re-send once: the object recognises it, wherever it was enqueued', async () => {
    const object = await keyObject()
    const send = () => SELF.fetch(relayRequest([engagement('q-3')]))
    expect((await send()).status).toBe(200)
    await delivered(['q-3'])
    const before = (await object.stats()).totals.duplicates
    expect((await send()).status).toBe(200)
    await eventually(async () => ((await object.stats()).totals.duplicates > before ? true : undefined))
    expect(await recorded()).toEqual(['q-3'])
    expect((await summary()).duplicates).toEqual([])
  })

  it('writes what Conversion refuses for good to the dead-letter queue, with the reason', async () => {
    // Past the ingress's checks only by a bug or an older version (whose messages hold
    // engagements, not parcels: they are still read): the emulator refuses it.
    const refused = { ...engagement('q-refused'), createdAt: 'yesterday' }
    await env.ENGAGEMENTS_QUEUE.send({ engagements: [engagement('q-ok'), refused] } as unknown as QueuedEngagements, {
      contentType: 'json',
    })
    const [letter] = (await eventually(async () => {
      const letters = await deadLetters()
      return letters.length > 0 ? letters : undefined
    })) as DeadLetter[]
    expect(letter).toMatchObject({ kind: 'rejected', engagement: refused })
    expect(letter?.reason).toMatch(/^HTTP 400: .*createdAt/)
    expect(await recorded()).toEqual(['q-ok'])
  })

  it('writes a message it cannot read to the dead-letter queue', async () => {
    await env.ENGAGEMENTS_QUEUE.send({ hello: 'world' } as unknown as QueuedEngagements, { contentType: 'json' })
    const letters = await eventually(async () => {
      const received = await deadLetters()
      return received.length > 0 ? received : undefined
    })
    expect(letters).toEqual([expect.objectContaining({ kind: 'unreadable', body: { hello: 'world' } })])
  })
})

/** Messages that remember what the consumer decided for each (the pool's own batch omits retry delays). */
function fakeBatch(bodies: unknown[], attempts = 1) {
  const verdicts: ('ack' | { retry: number | undefined })[] = bodies.map(() => ({ retry: undefined }))
  const messages = bodies.map((body, index) => ({
    body,
    attempts,
    ack: () => void (verdicts[index] = 'ack'),
    retry: (options?: { delaySeconds?: number }) => void (verdicts[index] = { retry: options?.delaySeconds }),
  }))
  return { messages, verdicts }
}

describe('the queue consumer', () => {
  const message = (id: string, body: unknown, attempts = 1) => ({ id, timestamp: new Date(), attempts, body })

  it('acks the messages the object settled (and reads those an earlier version queued)', async () => {
    const batch = createMessageBatch<QueuedEngagements>('conversion-engagements', [
      message('m-1', { parcels: await parcelsOf([engagement('qc-1'), engagement('qc-2')]) }),
      message('m-2', { engagements: [engagement('qc-3')] } as unknown as QueuedEngagements),
    ])
    const ctx = createExecutionContext()
    await worker.queue(batch, env as never)
    const result = await getQueueResult(batch, ctx)
    expect([...result.explicitAcks].sort()).toEqual(['m-1', 'm-2'])
    expect(result.retryMessages).toEqual([])
    expect(await recorded()).toEqual(['qc-1', 'qc-2', 'qc-3'])
  })

  it('retries a message with a delay on busy or unavailable, and dead-letters refusals', async () => {
    const answers: Record<string, SubmitResult> = {
      'qd-busy': { kind: 'busy', retryAfterMs: 2_500, reason: 'full' },
      'qd-down': { kind: 'unavailable', retryAfterMs: 60_000, reason: 'HTTP 401' },
      'qd-mixed': { kind: 'settled', accepted: 1, duplicates: 0, rejected: [{ id: 'qd-mixed', reason: 'HTTP 400: no' }] },
    }
    const written: DeadLetter[] = []
    const letters: QueueProducer<DeadLetter> = {
      send: async (body) => void written.push(body),
      sendBatch: async (messages) => void written.push(...[...messages].map((item) => item.body)),
    }
    const batch = fakeBatch([
      { parcels: await parcelsOf([engagement('qd-busy')]) },
      { parcels: await parcelsOf([engagement('qd-down')]) },
      { parcels: await parcelsOf([engagement('qd-mixed')]) },
    ])
    await drainQueue(batch, {
      coalescer: { submit: async (parcels) => answers[(parcels[0] as Parcel).id] as SubmitResult },
      deadLetters: letters,
      logger: console,
      now: () => Date.parse('2025-08-12T09:00:00Z'),
    })
    expect(batch.verdicts).toEqual([{ retry: 3 }, { retry: 60 }, 'ack'])
    expect(written).toEqual([
      { kind: 'rejected', engagement: engagement('qd-mixed'), reason: 'HTTP 400: no', at: '2025-08-12T09:00:00.000Z' },
    ])
  })

  it('retries a message whose dead letters could not be written', async () => {
    const batch = fakeBatch([{ parcels: await parcelsOf([engagement('qe-1')]) }])
    await drainQueue(batch, {
      coalescer: { submit: async () => ({ kind: 'settled', accepted: 0, duplicates: 0, rejected: [{ id: 'qe-1', reason: 'HTTP 400' }] }) },
      deadLetters: { send: () => Promise.reject(new Error('down')), sendBatch: () => Promise.reject(new Error('down')) },
      logger: console,
      now: Date.now,
    })
    expect(batch.verdicts).toEqual([{ retry: 1 }])
  })

  it('sends each engagement the object left unchecked back to the queue alone, and dead-letters only what was refused', async () => {
    const unchecked = { reason: 'the isolation budget of its request was spent', unchecked: true as const }
    const requeued: QueuedEngagements[] = []
    const written: DeadLetter[] = []
    const batch = fakeBatch([
      { parcels: await parcelsOf([engagement('qu-1'), engagement('qu-2'), engagement('qu-3')]) },
      { parcels: await parcelsOf([engagement('qu-4')]) },
    ])
    await drainQueue(batch, {
      coalescer: {
        submit: async (parcels) =>
          parcels.length > 1
            ? {
                kind: 'settled',
                accepted: 1,
                duplicates: 0,
                rejected: [
                  { id: 'qu-1', reason: 'HTTP 400: no' },
                  { id: 'qu-3', ...unchecked },
                ],
              }
            : // Alone, an unchecked verdict is final: it was checked.
              { kind: 'settled', accepted: 0, duplicates: 0, rejected: [{ id: 'qu-4', ...unchecked }] },
      },
      deadLetters: {
        send: async (body) => void written.push(body),
        sendBatch: async (messages) => void written.push(...[...messages].map((item) => item.body)),
      },
      requeue: {
        send: async (body) => void requeued.push(body),
        sendBatch: async (messages) => void requeued.push(...[...messages].map((item) => item.body)),
      },
      logger: console,
      now: () => Date.parse('2025-08-12T09:00:00Z'),
    })
    expect(batch.verdicts).toEqual(['ack', 'ack'])
    expect(requeued.map((body) => body.parcels.map((parcel) => parcel.id))).toEqual([['qu-3']])
    expect(written.map((letter) => (letter.kind === 'rejected' ? letter.engagement.id : letter.kind))).toEqual(['qu-1', 'qu-4'])
  })

  it('waits longer from the fourth attempt on, up to an hour', () => {
    const busy = { retryAfterMs: 1_200 }
    expect([1, 2, 3, 4, 5, 10, 14, 15, 100].map((attempts) => retryDelaySeconds(busy, attempts))).toEqual([
      2, 2, 2, 2, 4, 128, 2048, 3600, 3600,
    ])
    expect(retryDelaySeconds({ retryAfterMs: 0 }, 1)).toBe(1)
  })
})

describe('the queue producer', () => {
  it('splits a request too large for one message, counts repeated ids once, and rejects an id reused for other content', async () => {
    const sent: QueuedEngagements[] = []
    const queue: QueueProducer<QueuedEngagements> = {
      send: async (body) => void sent.push(body),
      sendBatch: async (messages) => void sent.push(...[...messages].map((item) => item.body)),
    }
    const big = Array.from({ length: 200 }, (_, i) => ({ ...engagement(`big-${i}`), description: 'x'.repeat(4_000) }))
    const reused = { ...(big[1] as Engagement), type: 'OTHER' }
    const result = await queueSubmitter(queue).submit(await parcelsOf([...big, big[0] as Engagement, reused]))
    expect(result).toEqual({
      kind: 'settled',
      accepted: 200,
      duplicates: 1,
      rejected: [{ id: 'big-1', reason: expect.stringContaining('different content') }],
    })
    expect(sent.length).toBeGreaterThan(1)
    for (const body of sent) expect(new TextEncoder().encode(JSON.stringify(body)).length).toBeLessThanOrEqual(120_000)
    expect(sent.flatMap((body) => body.parcels.map((item) => item.id))).toEqual(big.map((item) => item.id))
  })

  it('answers busy when the queue refuses, so the client keeps its engagements', async () => {
    const queue: QueueProducer<QueuedEngagements> = {
      send: () => Promise.reject(new Error('full')),
      sendBatch: () => Promise.reject(new Error('full')),
    }
    expect(await queueSubmitter(queue).submit(await parcelsOf([engagement('qp-1')]))).toMatchObject({ kind: 'busy' })
  })
})
