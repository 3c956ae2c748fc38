import { abortAllDurableObjects, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { createStoredAcknowledgedIds, tokenOf, type SqlStorageLike } from '../../src/adapters/cloudflare/acknowledged-store.js'
import { coalescerName } from '../../src/adapters/cloudflare/durable-object.js'
import worker from '../../src/adapters/cloudflare/worker.js'
import { engagement, KEY, keyObject, objectMode, recorded, relayRequest, resetEmulator, summary } from './helpers.js'

const send = (ids: string[], origin?: string) => worker.fetch(relayRequest(ids.map(engagement), origin), objectMode())

beforeEach(resetEmulator)

describe('Durable Object mode, with the emulator as Conversion', () => {
  it('forwards a batch through the object of the key and answers with the settlement', async () => {
    const response = await send(['do-1', 'do-2'])
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(await response.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    expect(await recorded()).toEqual(['do-1', 'do-2'])
  })

  it('names the object from a SHA-256 of the key, never the key itself', async () => {
    await send(['do-name-1'])
    const name = await coalescerName(KEY)
    expect(name).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(name).not.toContain(KEY)
    const id = env.COALESCER.idFromName(name)
    expect((await listDurableObjectIds(env.COALESCER)).some((existing) => existing.equals(id))).toBe(true)
  })

  it('hands each client request to the object in one RPC call', async () => {
    const before = (await (await keyObject()).stats()).totals
    const responses = await Promise.all([0, 1, 2].map((r) => send(Array.from({ length: 120 }, (_, i) => `do-rpc-${r}-${i}`))))
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200])
    const after = (await (await keyObject()).stats()).totals
    expect(after.submits - before.submits).toBe(3)
    expect(after.engagements - before.engagements).toBe(360)
    // 360 engagements of three requests leave in two upstream requests of at most 200.
    expect(after.requests - before.requests).toBeLessThanOrEqual(3)
  })

  it('answers a re-send as duplicates without forwarding it twice', async () => {
    await send(['do-3'])
    const again = await send(['do-3', 'do-4'])
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 1, rejected: [] })
    expect(await recorded()).toEqual(['do-3', 'do-4'])
  })

  it('paces concurrent requests and sends each id once', async () => {
    const requests = Array.from({ length: 20 }, (_, r) => Array.from({ length: 50 }, (_, i) => `do-c${r}-${i}`))
    // The same ids twice at once, as a tab's beacon and fetch can.
    const responses = await Promise.all([...requests, requests[0] as string[]].map((ids) => send(ids)))
    expect(responses.map((response) => response.status)).toEqual(Array(21).fill(200))
    expect(await recorded()).toHaveLength(1000)
    const seen = await summary()
    expect(seen.duplicates).toEqual([])
    expect(seen.maxStartsInAnyWindow).toBeLessThanOrEqual(10)
  })

  it('refuses foreign origins, and never shows the key', async () => {
    const refused = await send(['do-5'], 'https://evil.example.net')
    expect(refused.status).toBe(403)
    expect(await refused.text()).not.toContain(KEY)
    expect(await recorded()).toEqual([])
  })

  it('remembers acknowledged ids across a restart of the object', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `do-restart-${i}`)
    expect(await (await send(ids)).json()).toEqual({ accepted: 30, duplicates: 0, rejected: [] })

    await abortAllDurableObjects()
    const restarted = await keyObject()
    expect((await restarted.stats()).acknowledgedIds).toBe(0)

    const again = await send([...ids, 'do-restart-new'])
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 30, rejected: [] })
    expect(await recorded()).toEqual([...ids, 'do-restart-new'].sort())
    // Found in storage, they are cached again: the next re-send is answered from memory.
    expect((await restarted.stats()).acknowledgedIds).toBe(31)
  })

  it('sets an alarm that cleans its storage', async () => {
    await send(['do-alarm-1'])
    expect(await runDurableObjectAlarm(await keyObject())).toBe(true)
  })
})

/** A fresh object's SQL storage, driven directly: `run` gets it with a counter of the queries made. */
let objects = 0
function withStorage<T>(run: (sql: SqlStorageLike, queries: () => number) => T): Promise<T> {
  const stub = env.COALESCER.getByName(`storage-test-${++objects}`)
  return runInDurableObject(stub, (_, state) => {
    let count = 0
    const sql: SqlStorageLike = {
      exec: (query, ...bindings) => {
        count++
        return state.storage.sql.exec(query, ...bindings)
      },
    }
    return run(sql, () => count)
  })
}

const T0 = Date.parse('2025-08-12T09:00:00Z')
const DAY = 86_400_000

describe('the memory of acknowledged ids in Durable Object storage', () => {
  it('writes one row per batch and finds ids exactly, case included', async () => {
    await withStorage((sql) => {
      const memory = createStoredAcknowledgedIds({ sql, now: () => T0, schedule: () => {} })
      memory.add(['Ab-1', 'x.y:z', 'odd id "quoted"'], T0)
      memory.add(['ab-2'], T0 + 1)
      expect(sql.exec('SELECT rowid FROM acknowledged_batches').toArray()).toHaveLength(2)

      const restarted = createStoredAcknowledgedIds({ sql, now: () => T0 + 10, schedule: () => {} })
      const known = restarted.has(['Ab-1', 'ab-1', 'AB-1', 'x.y:z', 'odd id "quoted"', 'ab-2', 'Ab-2'])
      expect([...(known as ReadonlySet<string>)].sort()).toEqual(['Ab-1', 'ab-2', 'odd id "quoted"', 'x.y:z'])
    })
  })

  it('spells every id as one lowercase token, different for different ids', () => {
    expect(tokenOf('abc-1')).toBe('abc-1')
    expect(tokenOf('Abc')).toBe('^abc')
    expect(tokenOf('^abc')).toBe('^^5e616263')
    expect(new Set(['Abc', 'abc', 'ABC', '^abc', 'a b', 'a"b'].map(tokenOf)).size).toBe(6)
  })

  it('answers a restarted object from storage in one query per request, and from memory after', async () => {
    await withStorage((sql, queries) => {
      const before = createStoredAcknowledgedIds({ sql, now: () => T0, schedule: () => {} })
      const ids = Array.from({ length: 200 }, (_, i) => `restart-${i}`)
      before.add(ids, T0)

      let scheduledAt: number | undefined
      const after = createStoredAcknowledgedIds({ sql, now: () => T0 + 1_000, schedule: (at) => (scheduledAt = at) })
      // A new instance over existing rows makes sure an alarm is due.
      expect(scheduledAt).toBe(T0 + 1_000)
      const start = queries()
      expect((after.has([...ids, 'unknown-1']) as ReadonlySet<string>).size).toBe(200)
      expect(queries() - start).toBe(1)
      expect((after.has(ids.slice(0, 10)) as ReadonlySet<string>).size).toBe(10)
      expect(queries() - start).toBe(1)
    })
  })

  it('does not ask storage while the cache holds everything stored', async () => {
    await withStorage((sql, queries) => {
      const memory = createStoredAcknowledgedIds({ sql, now: () => T0, schedule: () => {} })
      memory.add(['only-1'], T0)
      const start = queries()
      expect([...(memory.has(['only-1', 'only-2']) as ReadonlySet<string>)]).toEqual(['only-1'])
      expect(queries()).toBe(start)
    })
  })

  it('asks storage once the cache is full, for what it forgot for room', async () => {
    await withStorage((sql, queries) => {
      const memory = createStoredAcknowledgedIds({ sql, now: () => T0, schedule: () => {}, cacheCapacity: 2 })
      memory.add(['full-1', 'full-2'], T0)
      memory.add(['full-3'], T0 + 1)
      const start = queries()
      expect([...(memory.has(['full-1', 'full-9']) as ReadonlySet<string>)]).toEqual(['full-1'])
      expect(queries() - start).toBe(1)
    })
  })

  it('forgets a batch after 24 hours, and the clean-up deletes it', async () => {
    await withStorage((sql) => {
      let time = T0
      const scheduled: number[] = []
      const memory = createStoredAcknowledgedIds({ sql, now: () => time, schedule: (at) => scheduled.push(at) })
      memory.add(['old-1'], time)
      time += 12 * 3_600_000
      memory.add(['newer-1'], time)
      // One alarm for the first batch's expiry; the clean-up then sets the next.
      expect(scheduled).toEqual([T0 + DAY])

      time = T0 + DAY + 1
      const restarted = createStoredAcknowledgedIds({ sql, now: () => time, schedule: () => {} })
      expect([...(restarted.has(['old-1', 'newer-1']) as ReadonlySet<string>)]).toEqual(['newer-1'])
      expect(restarted.cleanUp()).toBe(T0 + 12 * 3_600_000 + DAY)
      expect(sql.exec('SELECT rowid FROM acknowledged_batches').toArray()).toHaveLength(1)

      time = T0 + 2 * DAY
      expect(restarted.cleanUp()).toBeUndefined()
      expect(sql.exec('SELECT rowid FROM acknowledged_batches').toArray()).toHaveLength(0)
      expect(restarted.has(['newer-1'])).toEqual(new Set())
    })
  })

  it('cleans a large backlog in chunks, coming back soon while more is expired', async () => {
    await withStorage((sql) => {
      let time = T0
      const memory = createStoredAcknowledgedIds({ sql, now: () => time, schedule: () => {} })
      for (let batch = 0; batch < 1_500; batch++) memory.add([`chunk-${batch}`], T0 + batch)
      time = T0 + DAY + 10_000
      expect(memory.cleanUp()).toBe(time + 1_000)
      expect(sql.exec('SELECT rowid FROM acknowledged_batches').toArray()).toHaveLength(500)
      expect(memory.cleanUp()).toBeUndefined()
    })
  })
})
