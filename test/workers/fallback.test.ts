import { beforeEach, describe, expect, it } from 'vitest'
import { createWorker } from '../../src/adapters/cloudflare/worker.js'
import type { WorkerEnv } from '../../src/adapters/cloudflare/env.js'
import { bindingsWithout, engagement, KEY, objectMode, recorded, relayRequest, resetEmulator, summary } from './helpers.js'

beforeEach(resetEmulator)

describe('without the Durable Object and the queue', () => {
  it('paces per isolate, and says once that the global limit is not guaranteed', async () => {
    const warnings: string[] = []
    const logger = { info: () => {}, error: () => {}, warn: (message: string) => void warnings.push(message) }
    const worker = createWorker({ logger })
    const isolateMode = bindingsWithout('COALESCER', 'ENGAGEMENTS_QUEUE', 'DEAD_LETTERS')

    const first = await worker.fetch(relayRequest([engagement('fb-1'), engagement('fb-2')]), isolateMode)
    expect(await first.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    const again = await worker.fetch(relayRequest([engagement('fb-2'), engagement('fb-3')]), isolateMode)
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 1, rejected: [] })
    await worker.fetch(relayRequest([engagement('fb-4')]), isolateMode)

    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/per isolate.*not guaranteed/)
    expect(await recorded()).toEqual(['fb-1', 'fb-2', 'fb-3', 'fb-4'])
    expect((await summary()).maxStartsInAnyWindow).toBeLessThanOrEqual(10)
  })

  it('says nothing of the kind with the Durable Object bound', async () => {
    const warnings: string[] = []
    const worker = createWorker({ logger: { info: () => {}, error: () => {}, warn: (message: string) => void warnings.push(message) } })
    const response = await worker.fetch(relayRequest([engagement('fb-5')]), objectMode())
    expect(response.status).toBe(200)
    expect(warnings).toEqual([])
  })
})

describe('bindings', () => {
  it('refuses a binding it cannot use with a TypeError naming it, its value and its range, never a secret', async () => {
    const worker = createWorker()
    const request = () => relayRequest([engagement('fb-bad')])
    await expect(worker.fetch(request(), { ...objectMode(), MAX_REQUESTS_PER_SECOND: '20' })).rejects.toThrow(
      '`MAX_REQUESTS_PER_SECOND` must be a whole number from 1 to 10 (got "20")',
    )
    await expect(worker.fetch(request(), { ...objectMode(), CLIENT_RATE_LIMIT_PERIOD: 'soon' })).rejects.toThrow(
      '`CLIENT_RATE_LIMIT_PERIOD` must be a whole number from 10 to 60 (got "soon")',
    )
    const missing = worker.fetch(request(), { ...objectMode(), CONVERSION_API_KEY: '' })
    await expect(missing).rejects.toThrow(/`CONVERSION_API_KEY` must be your Conversion API key/)
    expect(await recorded()).toEqual([])
  })
})

describe('when the Durable Object cannot be reached', () => {
  it('asks the client to retry, and says why once, without the key', async () => {
    const errors: string[] = []
    const worker = createWorker({
      logger: { info: () => {}, warn: () => {}, error: (...parts: unknown[]) => void errors.push(parts.join(' ')) },
    })
    const broken: WorkerEnv = {
      ...objectMode(),
      COALESCER: {
        getByName: () => {
          throw new Error(`Durable Object is overloaded (${KEY})`)
        },
      },
    }
    for (const id of ['un-1', 'un-2']) {
      const response = await worker.fetch(relayRequest([engagement(id)]), broken)
      expect(response.status).toBe(503)
      expect(response.headers.get('retry-after')).toBe('1')
    }
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain('could not be reached')
    expect(errors[0]).not.toContain(KEY)
    expect(await recorded()).toEqual([])
  })
})
