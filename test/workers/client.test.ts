/**
 * The backend client inside a Worker, beside the proxy: the README's example, as written, sends
 * through the key's Durable Object, so the Worker's own engagements and the browsers' share one
 * limit and one memory of delivered engagements.
 */
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, inject, it } from 'vitest'
import type { WorkerEnv } from '../../src/adapters/cloudflare/env.js'
import { createClient } from '../../src/server/index.js'
import { keyCoalescer } from '../../src/adapters/cloudflare/worker.js'
import { engagement, keyObject, objectMode, recorded, relayRequest, resetEmulator } from './helpers.js'
import worker from '../../src/adapters/cloudflare/worker.js'

beforeEach(resetEmulator)

describe('the backend client on Workers', () => {
  it('records a meeting through the key object, as the README shows', async () => {
    const example = (await import(/* @vite-ignore */ inject('workerClientExample'))) as {
      recordMeeting(env: WorkerEnv, email: string): Promise<{ status: string; id: string }>
    }
    const before = (await (await keyObject()).stats()).totals.submits
    const result = await example.recordMeeting(objectMode(), 'ada@example.com')
    expect(result).toMatchObject({ status: 'accepted' })
    expect(await recorded()).toEqual([result.id])
    expect((await (await keyObject()).stats()).totals.submits).toBe(before + 1)
  })

  it('shares the memory with the browsers: an id a page sent first is a duplicate for the Worker', async () => {
    await worker.fetch(relayRequest([engagement('shared-1')]), objectMode())
    const conversion = createClient({ apiKey: env.CONVERSION_API_KEY, coalescer: keyCoalescer(objectMode()) })
    expect(await conversion.track({ ...engagement('shared-1') })).toEqual({ status: 'duplicate', id: 'shared-1' })
    await conversion.close()
    expect(await recorded()).toEqual(['shared-1'])
  })
})
