import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkEmail as contractEmail, checkEngagement, isRealDate } from '../src/contract.js'
import { buildEngagement, checkEmail, type Contact } from '../src/tracker/engagement.js'
import { anyUnitsText, anyUnitsValue, hostileEngagement, hostileValue, INHERITED, withOwn } from './helpers/hostile-input.js'

const NOW = Date.parse('2025-08-12T09:21:45Z')
const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e'

/** The draft the contract is asked about: the input's own fields, with the tracker's defaults, as `track()` completes it. */
function contractDraft(input: unknown, contact: Contact | undefined): unknown {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return input
  const given = input as Record<string, unknown>
  const draft: Record<string, unknown> = {
    ...given,
    id: given.id ?? UUID,
    createdAt: given.createdAt ?? NOW,
    contactEmail: given.contactEmail ?? contact?.email,
  }
  const createdAt = draft.createdAt
  if (
    createdAt instanceof Date ||
    typeof createdAt === 'number' ||
    (typeof createdAt === 'string' &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(createdAt) &&
      isRealDate(createdAt))
  ) {
    const date = new Date(createdAt)
    draft.createdAt = Number.isNaN(date.getTime()) ? String(date) : date.toISOString()
  }
  for (const key of Object.keys(draft)) if (draft[key] === undefined) delete draft[key]
  return draft
}

/** The tracker's verdict and the contract's, side by side: field and rule (or accepted). */
function verdicts(input: unknown, contact?: Contact) {
  const built = buildEngagement(input as never, contact, NOW, () => UUID)
  const draft = contractDraft(input, contact)
  const expected = checkEngagement(draft, true)
  return {
    tracker: 'code' in built ? { field: built.field, rule: built.rule } : 'ok',
    contract: expected ? { field: expected.field, rule: expected.rule } : 'ok',
    built,
    draft,
  }
}

describe('tracker: what track() refuses is what the contract refuses', () => {
  it.each(INHERITED)('refuses an own %s field as unknown', (key) => {
    const { tracker, contract } = verdicts(withOwn({ type: 'PRODUCT_ACTIVITY' }, key, 'x'))
    expect(tracker).toEqual({ field: key, rule: 'unknown-field' })
    expect(tracker).toEqual(contract)
  })

  it('names the field and the rule in its message, as the contract does', () => {
    const built = buildEngagement({ type: 'A', id: 'has spaces' }, undefined, NOW, () => UUID)
    expect(built).toEqual({ code: 'invalid', field: 'id', rule: 'format', message: "id must be letters, digits, '_', '.', ':' or '-'" })
    expect(buildEngagement({ type: 'A', createdAt: true } as never, undefined, NOW, () => UUID)).toMatchObject({
      field: 'createdAt',
      rule: 'type',
      message: 'createdAt must be a Date, epoch ms or an ISO 8601 string',
    })
    expect(buildEngagement({ type: 'A', data: { deep: [0, NaN] } }, undefined, NOW, () => UUID)).toMatchObject({
      field: 'data.deep[1]',
      rule: 'json',
      message: 'data.deep[1] must be a finite number',
    })
  })

  it('completes what it accepts exactly as the contract sees it: own fields, id, UTC createdAt and contact', () => {
    const contact = { email: 'jane@example.com', signature: 's'.repeat(64) }
    const input = Object.assign(Object.create({ name: 'inherited' }), { type: 'A', createdAt: '2025-08-12T11:21:45+02:00', data: { n: 1 } })
    const { built, draft } = verdicts(input, contact)
    expect(built).toEqual({ engagement: draft, signature: contact.signature })
    expect(draft).toEqual({ type: 'A', id: UUID, createdAt: '2025-08-12T09:21:45.000Z', contactEmail: 'jane@example.com', data: { n: 1 } })
    // Another contact given in the engagement: the session's signature is not its own.
    expect(buildEngagement({ type: 'A', contactEmail: 'john@example.com' }, contact, NOW, () => UUID)).toMatchObject({
      signature: undefined,
    })
  })

  it('gives the verdict of the contract for hostile keys and values (property)', () => {
    const value = hostileValue(
      fc.oneof(
        fc.constant(null),
        fc.constantFrom(
          'PRODUCT_ACTIVITY',
          'john@example.com',
          '2025-08-12T09:21:45Z',
          '2025-02-30T10:00:00+01:00',
          'e-1',
          '',
          'x'.repeat(300),
        ),
        fc.constantFrom(0, -1, NOW, 4_102_444_800_000, 1e20, NaN, new Date(NaN), new Date(NOW)),
      ),
    )
    const candidate = hostileEngagement(value)
    const contact = fc.option(fc.constantFrom<Contact>({ email: 'jane@example.com' }, { email: 'jane@example.com', signature: 'sig' }), {
      nil: undefined,
    })
    fc.assert(
      fc.property(candidate, contact, (input, who) => {
        const { tracker, contract, built, draft } = verdicts(input, who)
        expect(tracker).toEqual(contract)
        if (tracker === 'ok') expect(built).toMatchObject({ engagement: draft })
      }),
      { numRuns: 3000 },
    )
  })

  it('gives the verdict of the contract for strings of any UTF-16 units and for any value at all (property)', () => {
    const candidate = fc.record(
      {
        contactEmail: anyUnitsText,
        type: anyUnitsText,
        name: anyUnitsText,
        description: anyUnitsText,
        createdAt: fc.constantFrom(
          '1969-12-31T23:59:59Z',
          '1970-01-01T00:00:00Z',
          '2099-12-31T23:59:59Z',
          '2100-01-01T00:00:00Z',
          -1,
          4_102_444_800_000,
        ),
        data: fc.dictionary(anyUnitsText, anyUnitsValue, { maxKeys: 3 }),
      },
      { requiredKeys: ['type'] },
    )
    fc.assert(
      fc.property(
        fc.oneof(
          candidate,
          fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true, withSparseArray: true }),
        ),
        (input) => {
          const { tracker, contract } = verdicts(input)
          expect(tracker).toEqual(contract)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('checks an email for identify() as the contract does', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 12 }).map((local) => `${local}@example.com`),
          fc.anything(),
        ),
        (email) => {
          const ours = checkEmail(email)
          const theirs = contractEmail(email)
          expect(ours && { field: ours.field, rule: ours.rule, message: ours.message }).toEqual(
            theirs && { field: theirs.field, rule: theirs.rule, message: theirs.message },
          )
        },
      ),
      { numRuns: 2000 },
    )
  })
})
