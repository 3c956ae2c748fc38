import { afterEach, describe, expect, it, vi } from 'vitest'
import { type RunningEmulator, startEmulator } from '../src/emulator/index.js'

const KEY = 'sk_test_node_emulator_secret'

const engagement = (id: string) => ({
  id,
  contactEmail: 'john@example.com',
  type: 'PRODUCT_ACTIVITY',
  createdAt: '2025-08-12T09:21:45Z',
})

function sendBatch(emulator: RunningEmulator, ids: string[], init: RequestInit = {}) {
  return fetch(`${emulator.url}/v1/activities/batch`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ batch: ids.map(engagement) }),
    ...init,
  })
}

describe('emulator over Node HTTP', () => {
  // Every server a test starts is stopped here, whatever the test's outcome.
  const running: RunningEmulator[] = []
  const start = async (options: Parameters<typeof startEmulator>[0]) => {
    const emulator = await startEmulator(options)
    running.push(emulator)
    return emulator
  }
  afterEach(async () => {
    await Promise.all(running.splice(0).map((emulator) => emulator.close()))
  })

  it('listens on loopback at a free port and serves the API base', async () => {
    const emulator = await start({ apiKey: KEY, port: 0 })
    expect(emulator.port).toBeGreaterThan(0)
    expect(emulator.url).toBe(`http://127.0.0.1:${emulator.port}/api`)
    expect(emulator.origin).toBe(`http://127.0.0.1:${emulator.port}`)

    const response = await sendBatch(emulator, ['a', 'b'])
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ accepted: 2 })
    expect(emulator.ids()).toEqual(['a', 'b'])
    expect(emulator.requests()[0]).toMatchObject({ status: 200, count: 2, path: '/api/v1/activities/batch' })
  })

  it('answers errors in Conversion shape over the wire', async () => {
    const emulator = await start({ apiKey: KEY, port: 0, maxBodyBytes: 200 })
    const unauthorized = await sendBatch(emulator, ['a'], { headers: { 'content-type': 'application/json' } })
    expect(unauthorized.status).toBe(401)
    expect(await unauthorized.json()).toEqual({ message: 'Missing X-API-Key header' })

    const tooLarge = await sendBatch(emulator, ['a', 'b', 'c', 'd'])
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toEqual({ message: 'request body must be at most 200 bytes' })
    expect(emulator.requests()[1]).toMatchObject({ status: 413, bytes: expect.any(Number) })
    expect(emulator.requests()[1]?.bytes).toBeGreaterThan(200)

    const notFound = await fetch(`${emulator.origin}/v1/activities/batch`, { method: 'POST' })
    expect(notFound.status).toBe(404)
    expect(await notFound.json()).toEqual({ message: expect.any(String) })
  })

  it('serves the inspection routes to other origins', async () => {
    const emulator = await start({ apiKey: KEY, port: 0 })
    await sendBatch(emulator, ['a', 'b'])
    await sendBatch(emulator, ['b'])

    const engagements = await fetch(`${emulator.origin}/__emulator/engagements?since=1`, {
      headers: { origin: 'http://127.0.0.1:5173' },
    })
    expect(engagements.headers.get('access-control-allow-origin')).toBe('*')
    expect(await engagements.json()).toMatchObject({
      items: [
        { position: 2, requestSeq: 1, engagement: { id: 'b' } },
        { position: 3, requestSeq: 2, engagement: { id: 'b' } },
      ],
      next: 3,
    })

    const requests = (await (await fetch(`${emulator.origin}/__emulator/requests`)).json()) as { items: unknown[] }
    expect(requests.items).toHaveLength(2)
    expect(JSON.stringify(requests)).not.toContain(KEY)

    const faults = await fetch(`${emulator.origin}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimitStorm: true, retryAfterSeconds: 2 }),
    })
    expect(await faults.json()).toMatchObject({ rateLimitStorm: true, retryAfterSeconds: 2 })
    const stormed = await sendBatch(emulator, ['c'])
    expect(stormed.status).toBe(429)
    expect(stormed.headers.get('retry-after')).toBe('2')

    const summary = await (await fetch(`${emulator.origin}/__emulator/summary`)).json()
    expect(summary).toMatchObject({ engagements: 3, requests: 3, duplicates: ['b'], maxStartsInAnyWindow: 3 })

    await fetch(`${emulator.origin}/__emulator/reset`, { method: 'POST' })
    expect(emulator.engagements()).toEqual([])
    expect(emulator.faults().rateLimitStorm).toBe(false)
  })

  it('holds the rate limit for real concurrent requests', async () => {
    // A stopped clock: every start falls in one window however slow the machine is.
    const emulator = await start({ apiKey: KEY, port: 0, now: () => 0 })
    const statuses = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await sendBatch(emulator, [`r-${i}`])).status))
    expect(statuses.filter((status) => status === 200)).toHaveLength(10)
    expect(statuses.filter((status) => status === 429)).toHaveLength(2)
    expect(emulator.engagements()).toHaveLength(10)
    expect(emulator.maxStartsInAnyWindow()).toBe(12)
  })

  it('a client that gives up on a hanging request leaves nothing recorded', async () => {
    const emulator = await start({ apiKey: KEY, port: 0, faults: { hangRate: 1 } })
    const controller = new AbortController()
    const pending = sendBatch(emulator, ['h'], { signal: controller.signal })
    await vi.waitFor(() => expect(emulator.requests()).toHaveLength(1), { timeout: 5000, interval: 10 })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(emulator.engagements()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: null, fault: 'hang' })
  })

  it('close() stops the server even with a request hanging and idle keep-alive connections', async () => {
    const emulator = await startEmulator({ apiKey: KEY, port: 0 })
    try {
      // A finished request leaves an idle keep-alive connection behind in fetch's pool.
      expect((await sendBatch(emulator, ['k'])).status).toBe(200)
      emulator.setFaults({ hangRate: 1 })
      const hanging = sendBatch(emulator, ['h'])
      await vi.waitFor(() => expect(emulator.requests()).toHaveLength(2), { timeout: 5000, interval: 10 })

      await emulator.close()
      await expect(hanging).rejects.toThrow()
      await expect(sendBatch(emulator, ['after'])).rejects.toThrow()
      expect(emulator.ids()).toEqual(['k'])
    } finally {
      await emulator.close()
    }
  })
})
