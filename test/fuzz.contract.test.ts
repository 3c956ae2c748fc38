import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkEngagement } from '../src/contract.js'
import { draftEngagementSchema, engagementSchema, firstViolation } from '../src/schemas.js'
import { anyUnitsText, anyUnitsValue, hostileEngagement, hostileValue, INHERITED, withOwn } from './helpers/hostile-input.js'

const valid = { id: 'e-1', contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' }

/** Both checkers, each guarded: a throw is a verdict of its own, so the property names it. */
function verdicts(input: unknown) {
  const run = (check: () => unknown) => {
    try {
      return check()
    } catch (error) {
      return `threw ${String(error)}`
    }
  }
  return {
    plain: run(() => checkEngagement(input)),
    schema: run(() => firstViolation(engagementSchema, input)),
    plainDraft: run(() => checkEngagement(input, true)),
    schemaDraft: run(() => firstViolation(draftEngagementSchema, input)),
  }
}

describe('contract fuzzing: the browser check and the zod schemas agree, and never throw', () => {
  it.each(INHERITED)('refuses an own %s field as unknown, in plain code and in zod alike', (key) => {
    const input = withOwn({ ...valid }, key, 'x')
    const { plain, schema } = verdicts(input)
    expect(plain).toEqual({ field: key, rule: 'unknown-field', message: `${key} is not a known field` })
    expect(schema).toEqual(plain)
  })

  it('refuses `__proto__` as JSON.parse makes it, at the top level and inside data', () => {
    const top = JSON.parse(
      `{"id":"e-1","contactEmail":"john@example.com","type":"T","createdAt":"2025-08-12T09:21:45Z","__proto__":{"admin":true}}`,
    )
    expect(checkEngagement(top)).toEqual({ field: '__proto__', rule: 'unknown-field', message: '__proto__ is not a known field' })
    expect(firstViolation(engagementSchema, top)).toEqual(checkEngagement(top))
    const inside = { ...valid, data: JSON.parse('{"nested":{"__proto__":{"admin":true}}}') }
    expect(checkEngagement(inside)).toMatchObject({ field: 'data.nested', rule: 'json' })
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
  })

  it('gives the same verdict for engagements with hostile keys and values (property)', () => {
    const value = hostileValue(fc.constantFrom('PRODUCT_ACTIVITY', 'john@example.com', '2025-08-12T09:21:45Z', 'e-1', '', 'x'.repeat(300)))
    const candidate = hostileEngagement(value)
    fc.assert(
      fc.property(candidate, (input) => {
        const { plain, schema, plainDraft, schemaDraft } = verdicts(input)
        expect(typeof plain === 'string' ? plain : 'no throw').toBe('no throw')
        expect(schema).toEqual(plain)
        expect(schemaDraft).toEqual(plainDraft)
      }),
      { numRuns: 3000 },
    )
  })

  it('gives the same verdict for strings of any UTF-16 units, lone surrogates and controls included (property)', () => {
    const candidate = fc.record(
      {
        id: fc.constant('e-1'),
        contactEmail: anyUnitsText,
        type: anyUnitsText,
        name: anyUnitsText,
        description: anyUnitsText,
        createdAt: fc.constantFrom('1969-12-31T23:59:59Z', '1970-01-01T00:00:00Z', '2099-12-31T23:59:59Z', '2100-01-01T00:00:00Z'),
        data: fc.dictionary(anyUnitsText, anyUnitsValue, { maxKeys: 3 }),
      },
      { requiredKeys: ['id', 'type', 'createdAt'] },
    )
    fc.assert(
      fc.property(candidate, (input) => {
        const { plain, schema, plainDraft, schemaDraft } = verdicts(input)
        expect(typeof plain).not.toBe('string')
        expect(schema).toEqual(plain)
        expect(schemaDraft).toEqual(plainDraft)
      }),
      { numRuns: 3000 },
    )
  })

  it('never throws on anything at all, and both sides agree (property)', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withNullPrototype: true,
          withObjectString: true,
          withSet: true,
          withSparseArray: true,
          withTypedArray: true,
        }),
        (input) => {
          const { plain, schema, plainDraft, schemaDraft } = verdicts(input)
          expect(typeof plain).not.toBe('string')
          expect(schema).toEqual(plain)
          expect(schemaDraft).toEqual(plainDraft)
        },
      ),
      { numRuns: 3000 },
    )
  })
})
