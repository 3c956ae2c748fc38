/**
 * The Coalescer's decisions alone, as plain calls with `now` passed in: no timer, no promise, no
 * fake clock. Each step says what it decided through the effects the driver would carry out.
 */
import { describe, expect, it } from 'vitest'
import { resolveCoalescerOptions, type CoalescerOptions } from '../src/core/coalescer/options.js'
import { CoalescerState } from '../src/core/coalescer/state.js'
import { engagements } from './helpers/coalescer.js'
import { parcelsOf } from './helpers/parcels.js'

const T = 1_000_000

function state(options: Partial<CoalescerOptions> = {}) {
  const unused = () => {
    throw new Error('the state never calls its ports')
  }
  return new CoalescerState(
    resolveCoalescerOptions({
      send: unused,
      clock: { now: unused, setTimeout: unused, clearTimeout: unused },
      random: () => 0.5,
      ...options,
    }),
  )
}

describe('coalescer state: one engagement from submit to memory', () => {
  it('asks the memory, queues what is new, sends it, settles the answer and lets the id go once remembered', () => {
    const coalescer = state()
    const submit = coalescer.submit(T, parcelsOf(engagements('a', 3)), { client: 'c1' })
    let effects = coalescer.takeEffects()
    expect(effects.deadlines).toEqual([{ submit, ms: 8_000 }])
    expect(effects.recall).toHaveLength(1)
    expect(effects.recall[0]?.keys.map((key) => key.id)).toEqual(['a-0', 'a-1', 'a-2'])
    expect(coalescer.canStart(T)).toBe(false)

    coalescer.recalled(T, effects.recall[0]?.token as number, ['new', 'known', 'new'])
    expect(coalescer.canStart(T)).toBe(true)
    const departure = coalescer.depart(T)
    expect(departure?.parcels.map((parcel) => parcel.id)).toEqual(['a-0', 'a-2'])
    expect(coalescer.canStart(T)).toBe(false)

    coalescer.answered(T + 100, departure?.request as number, { kind: 'ok', status: 200 })
    effects = coalescer.takeEffects()
    expect(effects.answers).toEqual([[submit, { kind: 'settled', accepted: 2, duplicates: 1, rejected: [] }]])
    expect(effects.acknowledge.map((keys) => keys.map((key) => key.id))).toEqual([['a-0', 'a-2']])
    // Held until the memory has them, so a re-send meanwhile waits instead of going out again.
    expect(coalescer.ledger.held.size).toBe(2)
    coalescer.remembered(effects.acknowledge[0] ?? [], false)
    expect(coalescer.ledger.held.size).toBe(0)
    expect(coalescer.ledger.heldBytes).toBe(0)
  })
})

describe('coalescer state: answers per engagement', () => {
  it('lists the ids counted as duplicates when the submit asks for them', () => {
    const coalescer = state()
    const first = coalescer.submit(T, parcelsOf(engagements('a', 2)))
    coalescer.recalled(T, coalescer.takeEffects().recall[0]?.token as number, ['new', 'new'])
    const second = coalescer.submit(T, parcelsOf([...engagements('a', 1), ...engagements('b', 1)]), { listDuplicates: true })
    coalescer.recalled(T, coalescer.takeEffects().recall[0]?.token as number, ['known'])
    const departure = coalescer.depart(T)
    coalescer.answered(T + 10, departure?.request as number, { kind: 'ok', status: 200 })
    const answers = new Map(coalescer.takeEffects().answers)
    expect(answers.get(first)).toEqual({ kind: 'settled', accepted: 2, duplicates: 0, rejected: [] })
    expect(answers.get(second)).toEqual({ kind: 'settled', accepted: 0, duplicates: 2, rejected: [], duplicateIds: ['a-0', 'b-0'] })
  })
})

describe('coalescer state: failures', () => {
  it('backs off after a retry: nothing may start until Retry-After has passed, and it says when to wake', () => {
    const coalescer = state()
    coalescer.submit(T, parcelsOf(engagements('a', 1)))
    coalescer.recalled(T, coalescer.takeEffects().recall[0]?.token as number, ['new'])
    const departure = coalescer.depart(T)
    coalescer.answered(T + 50, departure?.request as number, { kind: 'retry', status: 429, reason: 'HTTP 429', afterMs: 3_000 })
    expect(coalescer.canStart(T + 3_049)).toBe(false)
    expect(coalescer.wakeAt(T + 50)).toBe(T + 3_050)
    expect(coalescer.canStart(T + 3_050)).toBe(true)
    expect(coalescer.depart(T + 3_050)?.parcels.map((parcel) => parcel.id)).toEqual(['a-0'])
  })

  it('halts on 401: every open submit is answered unavailable, and new ones too until the cool-down ends', () => {
    const coalescer = state({ haltCooldownMs: 60_000 })
    const first = coalescer.submit(T, parcelsOf(engagements('a', 1)))
    const second = coalescer.submit(T, parcelsOf(engagements('b', 1)))
    for (const { token } of coalescer.takeEffects().recall) coalescer.recalled(T, token, ['new'])
    const departure = coalescer.depart(T)
    coalescer.answered(T + 10, departure?.request as number, { kind: 'halt', status: 401, reason: 'HTTP 401: Invalid API key' })
    const answers = coalescer.takeEffects().answers
    expect(answers.map(([submit, result]) => [submit, result.kind])).toEqual([
      [first, 'unavailable'],
      [second, 'unavailable'],
    ])
    const later = coalescer.submit(T + 59_000, parcelsOf(engagements('c', 1)))
    expect(coalescer.takeEffects().answers).toEqual([[later, expect.objectContaining({ kind: 'unavailable', retryAfterMs: 1_010 })]])
    expect(coalescer.ledger.held.size).toBe(0)
  })

  it('lets go of what the memory could not read, and the client hears busy', () => {
    const coalescer = state()
    const submit = coalescer.submit(T, parcelsOf(engagements('a', 2)))
    coalescer.recalled(T, coalescer.takeEffects().recall[0]?.token as number, undefined)
    expect(coalescer.takeEffects().answers).toEqual([
      [submit, expect.objectContaining({ kind: 'busy', reason: expect.stringContaining('memory') })],
    ])
    expect(coalescer.ledger.held.size).toBe(0)
    expect(coalescer.totals.memoryFailures).toBe(1)
  })

  it('gives claims back when it lets engagements go unsent', () => {
    const coalescer = state()
    coalescer.submit(T, parcelsOf(engagements('a', 2)))
    coalescer.recalled(T, coalescer.takeEffects().recall[0]?.token as number, ['new', 'new'])
    coalescer.close(T)
    expect(coalescer.takeEffects().release.map((key) => key.id)).toEqual(['a-0', 'a-1'])
  })
})
