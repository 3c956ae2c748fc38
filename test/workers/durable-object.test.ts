import { abortAllDurableObjects, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { createSqlMemory, legacyTokenOf, type SqlStorageLike } from '../../src/adapters/cloudflare/sql-memory.js'
import { coalescerName } from '../../src/adapters/cloudflare/durable-object.js'
import worker from '../../src/adapters/cloudflare/worker.js'
import { engagement, KEY, keyObject, objectMode, parcelOf, recorded, relayRequest, resetEmulator, summary } from './helpers.js'

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
    expect((await restarted.stats()).remembered).toBe(0)

    const again = await send([...ids, 'do-restart-new'])
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 30, rejected: [] })
    expect(await recorded()).toEqual([...ids, 'do-restart-new'].sort())
    // Found in storage, they are cached again: the next re-send is answered from memory.
    expect((await restarted.stats()).remembered).toBe(31)
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

/** The memory keys of engagements with these ids (one content per id unless `variant` says otherwise). */
const keysOf = (ids: string[], variant = ''): Promise<{ id: string; digest: string }[]> =>
  Promise.all(ids.map((id) => parcelOf({ ...engagement(id), ...(variant ? { name: variant } : {}) })))

describe('the memory of delivered engagements in Durable Object storage', () => {
  it('writes one row per batch and finds engagements exactly, id case included', async () => {
    const first = await keysOf(['Ab-1', 'x.y:z', 'odd id "quoted"'])
    const second = await keysOf(['ab-2'])
    const probe = await keysOf(['Ab-1', 'ab-1', 'AB-1', 'x.y:z', 'odd id "quoted"', 'ab-2', 'Ab-2'])
    await withStorage((sql) => {
      const memory = createSqlMemory({ sql, now: () => T0, schedule: () => {} })
      memory.acknowledge(first, T0)
      memory.acknowledge(second, T0 + 1)
      expect(sql.exec('SELECT rowid FROM delivered_batches').toArray()).toHaveLength(2)

      const restarted = createSqlMemory({ sql, now: () => T0 + 10, schedule: () => {} })
      const verdicts = restarted.recall(probe, T0 + 10) as string[]
      expect(
        probe
          .filter((_, i) => verdicts[i] === 'known')
          .map((key) => key.id)
          .sort(),
      ).toEqual(['Ab-1', 'ab-2', 'odd id "quoted"', 'x.y:z'])
    })
  })

  it('tells the same id with other content apart, from storage too: a conflict', async () => {
    const delivered = await keysOf(['order-1001'])
    const other = await keysOf(['order-1001'], 'other content')
    await withStorage((sql) => {
      createSqlMemory({ sql, now: () => T0, schedule: () => {} }).acknowledge(delivered, T0)
      const restarted = createSqlMemory({ sql, now: () => T0 + 10, schedule: () => {} })
      expect(restarted.recall([...delivered, ...other], T0 + 10)).toEqual(['known', 'conflict'])
    })
  })

  it('still finds what an earlier version stored (ids, any content) until it expires, then drops its table', async () => {
    const keys = await keysOf(['Legacy-1', 'legacy-2'])
    await withStorage((sql) => {
      sql.exec(
        `CREATE VIRTUAL TABLE acknowledged_batches USING fts5(ids, content='', contentless_delete=1, detail=none, tokenize="unicode61 tokenchars '-_.:^'")`,
      )
      sql.exec('INSERT INTO acknowledged_batches(rowid, ids) VALUES (?, ?)', T0 * 1_000, legacyTokenOf('Legacy-1'))
      let time = T0 + 1_000
      const memory = createSqlMemory({ sql, now: () => time, schedule: () => {} })
      expect(memory.recall(keys, time)).toEqual(['known', 'new'])
      time = T0 + DAY + 1
      memory.cleanUp()
      expect(sql.exec(`SELECT name FROM sqlite_master WHERE name = 'acknowledged_batches'`).toArray()).toEqual([])
    })
  })

  it('spells every id of an earlier version as one lowercase token, different for different ids', () => {
    expect(legacyTokenOf('abc-1')).toBe('abc-1')
    expect(legacyTokenOf('Abc')).toBe('^abc')
    expect(legacyTokenOf('^abc')).toBe('^^5e616263')
    expect(new Set(['Abc', 'abc', 'ABC', '^abc', 'a b', 'a"b'].map(legacyTokenOf)).size).toBe(6)
  })

  it('answers a restarted object from storage in one query per request, and from memory after', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `restart-${i}`)
    const keys = await keysOf(ids)
    const probe = await keysOf([...ids, 'unknown-1'])
    await withStorage((sql, queries) => {
      const before = createSqlMemory({ sql, now: () => T0, schedule: () => {} })
      before.acknowledge(keys, T0)

      let scheduledAt: number | undefined
      const after = createSqlMemory({ sql, now: () => T0 + 1_000, schedule: (at) => (scheduledAt = at) })
      // A new instance over existing rows makes sure an alarm is due.
      expect(scheduledAt).toBe(T0 + 1_000)
      const start = queries()
      expect((after.recall(probe, T0 + 1_000) as string[]).filter((verdict) => verdict === 'known')).toHaveLength(200)
      expect(queries() - start).toBe(1)
      expect((after.recall(keys.slice(0, 10), T0 + 1_000) as string[]).filter((verdict) => verdict === 'known')).toHaveLength(10)
      expect(queries() - start).toBe(1)
    })
  })

  it('does not ask storage while the cache holds everything stored', async () => {
    const [only1, only2] = await keysOf(['only-1', 'only-2'])
    await withStorage((sql, queries) => {
      const memory = createSqlMemory({ sql, now: () => T0, schedule: () => {} })
      memory.acknowledge([only1!], T0)
      const start = queries()
      expect(memory.recall([only1!, only2!], T0)).toEqual(['known', 'new'])
      expect(queries()).toBe(start)
    })
  })

  it('asks storage once the cache is full, for what it forgot for room', async () => {
    const [full1, full2, full3, full9] = await keysOf(['full-1', 'full-2', 'full-3', 'full-9'])
    await withStorage((sql, queries) => {
      const memory = createSqlMemory({ sql, now: () => T0, schedule: () => {}, cacheCapacity: 2 })
      memory.acknowledge([full1!, full2!], T0)
      memory.acknowledge([full3!], T0 + 1)
      const start = queries()
      expect(memory.recall([full1!, full9!], T0 + 1)).toEqual(['known', 'new'])
      expect(queries() - start).toBe(1)
    })
  })

  it('forgets a batch after 24 hours, and the clean-up deletes it', async () => {
    const [old, newer] = await keysOf(['old-1', 'newer-1'])
    await withStorage((sql) => {
      let time = T0
      const scheduled: number[] = []
      const memory = createSqlMemory({ sql, now: () => time, schedule: (at) => scheduled.push(at) })
      memory.acknowledge([old!], time)
      time += 12 * 3_600_000
      memory.acknowledge([newer!], time)
      // One alarm for the first batch's expiry; the clean-up then sets the next.
      expect(scheduled).toEqual([T0 + DAY])

      time = T0 + DAY + 1
      const restarted = createSqlMemory({ sql, now: () => time, schedule: () => {} })
      expect(restarted.recall([old!, newer!], time)).toEqual(['new', 'known'])
      expect(restarted.cleanUp()).toBe(T0 + 12 * 3_600_000 + DAY)
      expect(sql.exec('SELECT rowid FROM delivered_batches').toArray()).toHaveLength(1)

      time = T0 + 2 * DAY
      expect(restarted.cleanUp()).toBeUndefined()
      expect(sql.exec('SELECT rowid FROM delivered_batches').toArray()).toHaveLength(0)
      expect(restarted.recall([newer!], time)).toEqual(['new'])
    })
  })

  it('cleans a large backlog in chunks, coming back soon while more is expired', async () => {
    const keys = await keysOf(Array.from({ length: 1_500 }, (_, batch) => `chunk-${batch}`))
    await withStorage((sql) => {
      let time = T0
      const memory = createSqlMemory({ sql, now: () => time, schedule: () => {} })
      keys.forEach((key, batch) => memory.acknowledge([key], T0 + batch))
      time = T0 + DAY + 10_000
      expect(memory.cleanUp()).toBe(time + 1_000)
      expect(sql.exec('SELECT rowid FROM delivered_batches').toArray()).toHaveLength(500)
      expect(memory.cleanUp()).toBeUndefined()
    })
  })
})
