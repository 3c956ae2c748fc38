/**
 * Bodies that cost memory, against the Durable Object mode inside workerd: the object holds the
 * engagements of every isolate for one key, so what it holds must stay within its bound in bytes
 * whatever clients send. Two clients send bodies of about 1 MiB (64 engagements whose `data` is
 * 5,400 empty objects, 21 times its size as an object tree), a third sends one small engagement
 * every 250 ms. Conversion refuses the large ones, so the object keeps them while it isolates
 * them: the worst case for what it holds.
 */
import { abortAllDurableObjects } from 'cloudflare:test'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/contract.js'
import worker from '../../src/adapters/cloudflare/worker.js'
import { APP, emulator, keyObject, objectMode, recorded, RELAY, resetEmulator } from './helpers.js'
import { emulatorControl } from './load/emulator-routes.js'

const REFUSED = 'REFUSED_BY_CONVERSION'
/** `{"a":[{},{},...]}` with 5,400 empty objects: 16,207 bytes. */
const EMPTY_OBJECTS = `{"a":[${Array.from({ length: 5_400 }, () => '{}').join(',')}]}`

/** A request from the client at `address`, as Cloudflare's edge hands it to the Worker. */
function post(address: string, body: string): Promise<Response> {
  const headers = { origin: APP, 'content-type': 'application/json', 'cf-connecting-ip': address }
  return worker.fetch(new Request(RELAY, { method: 'POST', headers, body }), objectMode())
}

/** About 1 MiB: 64 engagements of a type Conversion refuses, each with 16,207 bytes of empty objects. */
function costly(prefix: string): string {
  const items = Array.from(
    { length: 64 },
    (_, i) =>
      `{"id":"${prefix}-${i}","contactEmail":"attacker@evil.test","type":"${REFUSED}","createdAt":"2025-08-12T09:21:45Z","data":${EMPTY_OBJECTS}}`,
  )
  return `{"batch":[${items.join(',')}]}`
}

/** Runs `task(0..count-1)`, at most `width` at a time; resolves with every result in order. */
async function pool<T>(count: number, width: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const index = next++
        results[index] = await task(index)
      }
    }),
  )
  return results
}

beforeEach(resetEmulator)
// The object keeps isolating what it holds: stop it, so nothing of this file reaches the next.
afterEach(async () => {
  await abortAllDurableObjects()
  await resetEmulator()
})

describe('Durable Object mode, against bodies that cost memory', () => {
  it('keeps the bytes it holds under its bound, answers every request, and serves a third client', async () => {
    await emulatorControl(emulator, 'faults', { rejectTypes: [REFUSED] })
    expect(EMPTY_OBJECTS.length).toBe(16_207)
    expect(costly('size').length).toBeLessThanOrEqual(LIMITS.requestBytes)
    const object = await keyObject()

    let attacking = true
    let peakHeld = 0
    let maxHeld = 0
    const sampler = (async () => {
      while (attacking) {
        const stats = await object.stats()
        peakHeld = Math.max(peakHeld, stats.heldBytes)
        maxHeld = stats.maxHeldBytes
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    const read = async (response: Response) => ({
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: await response.text(),
    })
    const attack = Promise.all([
      pool(200, 16, (n) => post('192.0.2.1', costly(`first-${n}`)).then(read)),
      pool(60, 8, (n) => post('192.0.2.2', costly(`second-${n}`)).then(read)),
    ])
    const steady: { status: number; body: string }[] = []
    for (let i = 0; i < 20; i++) {
      const sent = Date.now()
      const body = JSON.stringify({
        batch: [{ id: `steady-${i}`, contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' }],
      })
      steady.push(await post('198.51.100.7', body).then(read))
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - sent))))
    }
    const [first, second] = await attack
    attacking = false
    await sampler

    // Held something, never more than its bound.
    expect(maxHeld).toBeGreaterThan(0)
    expect(peakHeld).toBeGreaterThan(LIMITS.requestBytes)
    expect(peakHeld).toBeLessThanOrEqual(maxHeld)
    // Every request of both clients answered: settled, or told when to come back.
    for (const answer of [...first, ...second]) {
      expect([200, 429, 503], answer.body).toContain(answer.status)
      if (answer.status !== 200) expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1)
    }
    expect(second.filter((answer) => answer.status !== 429).length).toBeGreaterThan(0)
    // The third client, sending small engagements meanwhile, is served throughout.
    expect(steady.filter((answer) => answer.status !== 200 || JSON.parse(answer.body).accepted !== 1)).toEqual([])
    expect((await recorded()).filter((id) => id.startsWith('steady-'))).toHaveLength(20)
  }, 120_000)
})
