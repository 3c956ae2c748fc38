/**
 * The Coalescer among clients it cannot trust: what it holds is bounded in engagements and bytes,
 * per client and in all; upstream batches are shared fairly and bounded in bytes; isolating what
 * Conversion refuses is split by client request first, bounded per request and never takes more
 * than every other slot from fresh traffic; and an id is bound to its content.
 */
import { describe, expect, it } from 'vitest'
import type { Engagement } from '../src/contract.js'
import type { DeliveryMemory, Recall, SubmitResult } from '../src/core/coalescer/index.js'
import { createMemory } from '../src/core/memory.js'
import { engagement, engagements, ok, refusing, scenario, type Responder } from './helpers/coalescer.js'
import { parcelOf } from './helpers/parcels.js'

/** An engagement whose `data` makes its JSON about `bytes` long. */
const heavy = (id: string, bytes: number): Engagement => ({ ...engagement(id), data: { pad: 'x'.repeat(bytes) } })
const settledIds = (list: readonly Engagement[]) => list.map((item) => item.id)

describe('coalescer: fair sharing between clients', () => {
  it("sends a client's few engagements in the next request, however many another client has waiting", async () => {
    const { submit, clock, settle, upstream, expectIdle } = scenario()
    // 3,800: just within the greedy client's share (a quarter of the 15,920 the proxy holds).
    const flood = Array.from({ length: 19 }, (_, i) => submit(engagements(`a${i}`, 200), 60_000, 'greedy'))
    await clock.advance(10)
    const few = submit(engagements('b', 3), 60_000, 'modest')
    await settle()
    // The first ten requests left at once, all the greedy client's; the eleventh carries the modest one.
    const first = upstream.requests.findIndex((request) => request.ids.some((id) => id.startsWith('b-')))
    expect(first).toBe(10)
    expect(few.result).toEqual({ kind: 'settled', accepted: 3, duplicates: 0, rejected: [] })
    // Answered one window after the first requests' answers, not after the 1,800 waiting before it.
    expect(few.at).toBeLessThan(1_400)
    expect(flood.every((watch) => watch.result?.kind === 'settled')).toBe(true)
    expect(upstream.acknowledged.size).toBe(3_803)
    expectIdle()
  })

  it('fills each batch round-robin: clients with few send all of theirs, the others share the rest', async () => {
    const { submit, clock, settle, upstream } = scenario({ maxRequestsPerSecond: 1 })
    submit(engagements('warm', 1), undefined, 'warm')
    await clock.advance(10)
    for (const client of ['a', 'b', 'c']) submit(engagements(client, 200), 60_000, client)
    submit(engagements('d', 20), 60_000, 'd')
    await settle()
    const second = upstream.requests[1]?.ids ?? []
    const from = (client: string) => second.filter((id) => id.startsWith(`${client}-`)).length
    expect(second).toHaveLength(200)
    expect([from('a'), from('b'), from('c'), from('d')]).toEqual([60, 60, 60, 20])
  })
})

describe('coalescer: what it holds is bounded', () => {
  it('answers throttled to a client beyond its share of the backlog, while other clients still get in', async () => {
    const { submit, clock, settle } = scenario({ maxRequestsPerSecond: 1, maxBacklog: 1_000, clientShare: 0.25 })
    const first = submit(engagements('a1', 200), 60_000, 'a')
    const second = submit(engagements('a2', 200), 60_000, 'a')
    const other = submit(engagements('b1', 200), 60_000, 'b')
    // Clients that are not told apart share nothing: only the whole backlog bounds them.
    const anonymous = submit(engagements('n1', 200), 60_000)
    await clock.advance(0)
    expect(second.result).toMatchObject({ kind: 'throttled', reason: expect.stringContaining('its share') })
    await settle()
    expect([first, other, anonymous].map((watch) => watch.result?.kind)).toEqual(['settled', 'settled', 'settled'])
  })

  it('counts bytes, not only engagements: large engagements hit the byte share first', async () => {
    const { submit, clock, coalescer, settle } = scenario({ maxRequestsPerSecond: 1, maxHeldBytes: 1_048_576, clientShare: 0.25 })
    const size = parcelOf(heavy('a-00', 16_000)).heldBytes
    const fits = Math.floor((1_048_576 * 0.25) / size)
    const list = Array.from({ length: fits }, (_, i) => heavy(`a-${String(i).padStart(2, '0')}`, 16_000))
    const admitted = submit(list, 60_000, 'a')
    const over = submit([heavy('a-99', 16_000)], 60_000, 'a')
    const other = submit([heavy('b-00', 16_000)], 60_000, 'b')
    await clock.advance(0)
    expect(over.result?.kind).toBe('throttled')
    expect(fits).toBeLessThan(20)
    expect(coalescer.stats().heldBytes).toBe((fits + 1) * size)
    await settle()
    expect([admitted.result?.kind, other.result?.kind]).toEqual(['settled', 'settled'])
  })

  it('answers busy when the whole byte budget is taken, by however many clients', async () => {
    const { submit, clock, settle } = scenario({ maxRequestsPerSecond: 1, maxHeldBytes: 1_048_576, clientShare: 1 })
    const size = parcelOf(heavy('probe', 16_000)).heldBytes
    const fits = Math.floor(1_048_576 / size)
    submit(
      Array.from({ length: fits }, (_, i) => heavy(`a-${i}`, 16_000)),
      60_000,
      'a',
    )
    const over = submit([heavy('b-0', 16_000)], 60_000, 'b')
    await clock.advance(0)
    expect(over.result).toMatchObject({ kind: 'busy', reason: expect.stringContaining('bytes of at most 1048576') })
    await settle()
  })
})

describe('coalescer: upstream batches bounded in bytes', () => {
  it('packs under maxBatchBytes as well as 200 engagements', async () => {
    const { submit, settle, upstream, expectIdle } = scenario({ maxBatchBytes: 100_000 })
    submit(Array.from({ length: 60 }, (_, i) => heavy(`h-${i}`, 16_000)))
    await settle()
    expect(upstream.requests.every((request) => request.bytes <= 100_000)).toBe(true)
    expect(upstream.requests.map((request) => request.ids.length)).toEqual([6, 6, 6, 6, 6, 6, 6, 6, 6, 6])
    expectIdle()
  })

  it('lowers the cap on a 413 and delivers everything in smaller requests; one engagement too large alone is rejected', async () => {
    const limit = 60_000
    const respond: Responder = (_ids, _request, batch) =>
      batch.reduce((sum, parcel) => sum + parcel.wireBytes, 0) > limit
        ? { kind: 'too-large', status: 413, reason: 'HTTP 413: body too large' }
        : { kind: 'ok', status: 200 }
    const { submit, settle, upstream, coalescer, expectIdle } = scenario({ respond })
    const list = [...Array.from({ length: 60 }, (_, i) => heavy(`h-${i}`, 16_000)), heavy('huge', 70_000)]
    const answer = submit(list)
    await settle()
    expect(answer.result).toMatchObject({
      kind: 'settled',
      accepted: 60,
      rejected: [{ id: 'huge', reason: expect.stringContaining('too large for Conversion') }],
    })
    expect(coalescer.stats().maxBatchBytes).toBeLessThanOrEqual(limit)
    expect(upstream.acknowledged.size).toBe(60)
    expectIdle()
  })
})

describe('coalescer: isolating what Conversion refuses', () => {
  it("splits a refused batch by client request first, so no request's engagements wait on another's isolation", async () => {
    const { submit, clock, settle, upstream } = scenario({ respond: refusing('a-7'), maxRequestsPerSecond: 1 })
    submit(engagements('warm', 1), undefined, 'warm')
    await clock.advance(10)
    const poisoned = submit(engagements('a', 150), 60_000, 'a')
    const innocent = submit(engagements('b', 40), 60_000, 'b')
    await settle()
    // The shared batch, then each request's part alone: the innocent one is done at once.
    expect(upstream.requests[1]?.ids).toHaveLength(190)
    const innocentAlone = upstream.requests.findIndex(
      (request) => request.ids.length === 40 && request.ids.every((id) => id.startsWith('b-')),
    )
    expect(innocentAlone).toBeLessThanOrEqual(3)
    expect(innocent.result).toEqual({ kind: 'settled', accepted: 40, duplicates: 0, rejected: [] })
    expect(poisoned.result).toMatchObject({ kind: 'settled', accepted: 149, rejected: [{ id: 'a-7' }] })
  })

  it('bounds the isolation work of one request; past the budget, its remaining suspects are rejected unchecked, with a reason that says so, and re-sends buy no more', async () => {
    const poisoned = new Set(Array.from({ length: 40 }, (_, i) => `a-${i * 5}`))
    const respond: Responder = (ids) =>
      ids.some((id) => poisoned.has(id))
        ? { kind: 'refused', status: 400, reason: 'HTTP 400: bad engagement' }
        : { kind: 'ok', status: 200 }
    const { submit, settle, upstream, coalescer, expectIdle } = scenario({ respond, isolationBudget: 20 })
    const list = engagements('a', 200)
    const request = submit(list, 60_000, 'a')
    await settle()
    // The batch it left in, then its budget.
    expect(upstream.requests).toHaveLength(21)
    expect(coalescer.stats().totals.isolations).toBe(20)
    const result = request.result as Extract<SubmitResult, { kind: 'settled' }>
    expect(result.kind).toBe('settled')
    const refusedAlone = result.rejected.filter((item) => item.reason === 'HTTP 400: bad engagement').map((item) => item.id)
    const unchecked = result.rejected.filter((item) => item.reason !== 'HTTP 400: bad engagement')
    // Marked, so that a client can send each again alone without reading the reason.
    expect(unchecked.every((item) => item.unchecked === true)).toBe(true)
    expect(result.rejected.filter((item) => item.unchecked === undefined).map((item) => item.id)).toEqual(refusedAlone)
    expect(refusedAlone.length).toBeGreaterThan(0)
    expect(refusedAlone.every((id) => poisoned.has(id))).toBe(true)
    expect(unchecked[0]?.reason).toBe(
      'Conversion refused a batch holding it (HTTP 400: bad engagement) and the isolation budget of its request (20 upstream requests) ' +
        'was spent before it could be checked alone: it may be valid; send it again in a request of its own',
    )
    // Nothing is lost in silence: each engagement was delivered or rejected, once.
    expect(result.accepted + result.rejected.length).toBe(200)
    for (const item of list)
      expect(upstream.acknowledged.get(item.id) === 1).toBe(!result.rejected.some((rejected) => rejected.id === item.id))
    for (const id of poisoned) expect(upstream.acknowledged.get(id)).toBeUndefined()

    // Sent again among others, as a re-send would, each is answered as before, without upstream
    // work: re-sends cannot buy more isolation. What Conversion refused alone likewise.
    const before = upstream.requests.length
    const resent = submit(list, 60_000, 'a')
    await settle()
    expect(resent.result).toMatchObject({ kind: 'settled', accepted: 0, duplicates: result.accepted, rejected: result.rejected })
    expect(upstream.requests).toHaveLength(before)
    // Sent in a request of its own, an unchecked one is checked: the valid ones go through.
    const uncheckedValid = list
      .filter((item) => unchecked.some((rejected) => rejected.id === item.id) && !poisoned.has(item.id))
      .slice(0, 3)
    expect(uncheckedValid).toHaveLength(3)
    const alone = uncheckedValid.map((item) => submit([item], 60_000, 'a'))
    await settle()
    for (const request of alone) expect(request.result).toEqual({ kind: 'settled', accepted: 1, duplicates: 0, rejected: [] })
    expectIdle()
  })

  it('finds a few refused engagements among 200 within the default budget, and rejects nothing else', async () => {
    const poisoned = new Set(['a-3', 'a-77', 'a-150'])
    const respond: Responder = (ids) =>
      ids.some((id) => poisoned.has(id))
        ? { kind: 'refused', status: 400, reason: 'HTTP 400: bad engagement' }
        : { kind: 'ok', status: 200 }
    const { submit, settle, coalescer } = scenario({ respond })
    const request = submit(engagements('a', 200), 60_000, 'a')
    await settle()
    expect(request.result).toMatchObject({ kind: 'settled', accepted: 197, duplicates: 0 })
    expect(new Set((request.result as Extract<SubmitResult, { kind: 'settled' }>).rejected.map((item) => item.id))).toEqual(poisoned)
    expect(coalescer.stats().totals.isolations).toBeLessThanOrEqual(50)
  })

  it('never takes more than every other request from fresh traffic while isolating', async () => {
    const respond: Responder = (ids) =>
      ids.some((id) => id.startsWith('a-')) ? { kind: 'refused', status: 400, reason: 'HTTP 400: bad' } : { kind: 'ok', status: 200 }
    const { submit, clock, settle, upstream } = scenario({ respond, isolationBudget: 1_000, maxRequestsPerSecond: 2 })
    submit(engagements('a', 200), 120_000, 'a')
    await clock.advance(1)
    for (let i = 0; i < 10; i++) submit(engagements(`b${i}`, 200), 120_000, `b${i}`)
    await settle()
    const kinds = upstream.requests.map((request) => (request.ids.every((id) => id.startsWith('a-')) ? 'isolation' : 'fresh'))
    const whileFreshWaits = kinds.slice(1, kinds.lastIndexOf('fresh') + 1)
    for (let i = 1; i < whileFreshWaits.length; i++) {
      expect(whileFreshWaits[i - 1] === 'isolation' && whileFreshWaits[i] === 'isolation').toBe(false)
    }
  })
})

describe('coalescer: an id is bound to its content', () => {
  const junk = (id: string): Engagement => ({ ...engagement(id), contactEmail: 'attacker@evil.test', type: 'JUNK' })

  it('rejects another content under an id being delivered, instead of counting it a duplicate', async () => {
    const { submit, clock, settle, upstream } = scenario()
    const attacker = submit([junk('order-1001')], undefined, 'attacker')
    await clock.advance(10)
    const victim = submit([engagement('order-1001')], undefined, 'victim')
    await settle()
    expect(attacker.result).toMatchObject({ kind: 'settled', accepted: 1 })
    expect(victim.result).toEqual({
      kind: 'settled',
      accepted: 0,
      duplicates: 0,
      rejected: [{ id: 'order-1001', reason: expect.stringContaining('is being delivered with different content') }],
    })
    expect(upstream.requests).toHaveLength(1)
  })

  it('rejects another content under an id delivered before, and still answers the same content as a duplicate', async () => {
    const { submit, settle, coalescer } = scenario()
    submit([junk('order-1001')])
    await settle()
    const victim = submit([engagement('order-1001')])
    const again = submit([junk('order-1001')])
    await settle()
    expect(victim.result).toMatchObject({
      rejected: [{ id: 'order-1001', reason: expect.stringContaining('was delivered before with different content') }],
    })
    expect(again.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 1, rejected: [] })
    expect(coalescer.stats().totals.conflicts).toBe(1)
  })

  it('does not reject a valid engagement for what Conversion refused under its id with other content', async () => {
    const respond: Responder = (ids, _request, batch) =>
      batch.some((parcel) => parcel.json.includes('"JUNK"'))
        ? { kind: 'refused', status: 400, reason: 'HTTP 400: type JUNK' }
        : ok(ids, 0, batch)
    const { submit, settle, upstream } = scenario({ respond })
    const attacker = submit([junk('order-1001')])
    await settle()
    const resent = submit([junk('order-1001')])
    await settle()
    const victim = submit([engagement('order-1001')])
    await settle()
    expect(attacker.result).toMatchObject({ rejected: [{ reason: 'HTTP 400: type JUNK' }] })
    expect(victim.result).toEqual({ kind: 'settled', accepted: 1, duplicates: 0, rejected: [] })
    // The refused content sent again is answered from memory, without reaching Conversion.
    expect(resent.result).toMatchObject({ rejected: [{ reason: 'HTTP 400: type JUNK' }] })
    expect(upstream.requests).toHaveLength(2)
  })

  it('rejects a second content under one id inside the same request', async () => {
    const { submit, settle } = scenario()
    const answer = submit([engagement('twice'), junk('twice'), engagement('twice')])
    await settle()
    expect(answer.result).toEqual({
      kind: 'settled',
      accepted: 1,
      duplicates: 1,
      rejected: [{ id: 'twice', reason: expect.stringContaining('different content') }],
    })
  })
})

describe('coalescer: an engagement another sender of the key is delivering', () => {
  /** A memory that says `pending` for the first `times` questions about each key, then what `then` says. */
  function busyElsewhere(times: number, then: Recall): DeliveryMemory {
    const asked = new Map<string, number>()
    const inner = createMemory()
    return {
      recall: (keys) =>
        keys.map((key) => {
          const count = (asked.get(key.digest) ?? 0) + 1
          asked.set(key.digest, count)
          return count <= times ? 'pending' : then
        }),
      acknowledge: (keys, at) => inner.acknowledge(keys, at),
      release: () => {},
      size: () => inner.size(),
    }
  }

  it('waits for the other sender, then answers a duplicate without sending', async () => {
    const { submit, settle, upstream, expectIdle } = scenario({ memory: () => busyElsewhere(3, 'known') })
    const answer = submit(settledIdsOf('x', 2))
    await settle()
    expect(answer.result).toEqual({ kind: 'settled', accepted: 0, duplicates: 2, rejected: [] })
    expect(upstream.requests).toHaveLength(0)
    expectIdle()
  })

  it('sends it once the other sender gave it up', async () => {
    const { submit, settle, upstream } = scenario({ memory: () => busyElsewhere(2, 'new') })
    const answer = submit(settledIdsOf('y', 2))
    await settle()
    expect(answer.result).toEqual({ kind: 'settled', accepted: 2, duplicates: 0, rejected: [] })
    expect(settledIds(upstream.requests.flatMap((request) => request.ids.map((id) => engagement(id))))).toEqual(['y-0', 'y-1'])
  })
})

function settledIdsOf(prefix: string, count: number): Engagement[] {
  return engagements(prefix, count)
}
