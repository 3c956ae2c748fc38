import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalEmail, checkEmail, checkEngagement, formatPath, isRealDate, isSettlement, LIMITS } from '../src/contract.js'
import { clientRequestSchema, draftEngagementSchema, engagementSchema, firstViolation, upstreamRequestSchema } from '../src/schemas.js'
import { findJsonProblem, utf8Length } from '../src/core/json.js'

const valid = {
  id: 'demo-1',
  contactEmail: 'john@example.com',
  type: 'PRODUCT_ACTIVITY',
  name: 'Product Demo Completed',
  description: 'Watched the whole demo',
  createdAt: '2025-08-12T09:21:45Z',
  data: { duration_minutes: 45, tags: ['a', 'b'], nested: { ok: true, none: null } },
}

describe('engagement contract', () => {
  it('accepts a complete engagement and the minimal one', () => {
    expect(firstViolation(engagementSchema, valid)).toBeUndefined()
    const { id, contactEmail, type, createdAt } = valid
    expect(firstViolation(engagementSchema, { id, contactEmail, type, createdAt })).toBeUndefined()
    expect(firstViolation(engagementSchema, { ...valid, createdAt: '2025-08-12T09:21:45.123Z' })).toBeUndefined()
  })

  it.each([
    [{ ...valid, contactEmail: undefined }, 'contactEmail', 'required', 'contactEmail is required'],
    [{ ...valid, contactEmail: 'john@' }, 'contactEmail', 'format', 'contactEmail must be an email address such as john@example.com'],
    [{ ...valid, contactEmail: 'john doe@example.com' }, 'contactEmail', 'format', undefined],
    [{ ...valid, contactEmail: `${'j'.repeat(250)}@example.com` }, 'contactEmail', 'max', 'contactEmail must be at most 254 characters'],
    [{ ...valid, type: 7 }, 'type', 'type', 'type must be a string'],
    [{ ...valid, type: '' }, 'type', 'min', 'type must not be empty'],
    [{ ...valid, name: 'n'.repeat(257) }, 'name', 'max', 'name must be at most 256 characters'],
    [{ ...valid, description: 'd'.repeat(4097) }, 'description', 'max', undefined],
    [{ ...valid, id: '' }, 'id', 'format', undefined],
    [{ ...valid, id: 'x'.repeat(129) }, 'id', 'max', undefined],
    [{ ...valid, id: 'a/b' }, 'id', 'format', "id must be letters, digits, '_', '.', ':' or '-'"],
    [
      { ...valid, createdAt: '2025-08-12 09:21:45' },
      'createdAt',
      'format',
      'createdAt must be an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z',
    ],
    [{ ...valid, createdAt: '2025-08-12T09:21:45+02:00' }, 'createdAt', 'format', undefined],
    [{ ...valid, createdAt: '2025-13-01T00:00:00Z' }, 'createdAt', 'format', 'createdAt must be a real calendar date and time'],
    [{ ...valid, createdAt: 1755000000000 }, 'createdAt', 'type', undefined],
    [{ ...valid, data: 'text' }, 'data', 'json', 'data must be a plain object of JSON values'],
    [{ ...valid, data: { a: { b: { c: Symbol('s') } } } }, 'data.a.b.c', 'json', 'data.a.b.c must be a JSON value, not a symbol'],
    [{ ...valid, data: { list: [1, 2, undefined, () => 0] } }, 'data.list[3]', 'json', undefined],
    [{ ...valid, data: { m: new Map() } }, 'data.m', 'json', 'data.m must be a JSON value, not a Map'],
    [{ ...valid, data: { constructor: 1 } }, 'data', 'json', 'data must not use the key "constructor"'],
    [{ ...valid, extra: 1 }, 'extra', 'unknown-field', 'extra is not a known field'],
    [{ ...valid, type: 'PRODUCT\nACTIVITY' }, 'type', 'characters', 'type must not contain U+000A'],
    [{ ...valid, type: 'PRODUCT\tACTIVITY' }, 'type', 'characters', 'type must not contain U+0009'],
    [{ ...valid, type: 'PRODUCT\0' }, 'type', 'characters', 'type must not contain U+0000'],
    [{ ...valid, type: 'A\u0085B' }, 'type', 'characters', 'type must not contain U+0085'],
    [{ ...valid, name: 'Signed up\r' }, 'name', 'characters', 'name must not contain U+000D'],
    [{ ...valid, name: 'Signed up\ud83d' }, 'name', 'characters', 'name must not contain U+D83D'],
    [{ ...valid, description: 'bell \u0007' }, 'description', 'characters', 'description must not contain U+0007'],
    [{ ...valid, description: 'escape \u001b[31m' }, 'description', 'characters', 'description must not contain U+001B'],
    [{ ...valid, description: 'half \ude00 of a pair' }, 'description', 'characters', 'description must not contain U+DE00'],
    [{ ...valid, contactEmail: 'jo\u200bhn@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+200B'],
    [{ ...valid, contactEmail: 'john@example.com\u202e' }, 'contactEmail', 'characters', 'contactEmail must not contain U+202E'],
    [{ ...valid, contactEmail: 'john\u2066@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+2066'],
    [{ ...valid, contactEmail: '\u061cjohn@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+061C'],
    [{ ...valid, contactEmail: 'jo\u00adhn@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+00AD'],
    [{ ...valid, contactEmail: 'john@exa\u2060mple.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+2060'],
    [{ ...valid, contactEmail: 'jo\u200ehn@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+200E'],
    [{ ...valid, contactEmail: 'jo\u0000hn@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+0000'],
    [{ ...valid, contactEmail: 'j\udc00@example.com' }, 'contactEmail', 'characters', 'contactEmail must not contain U+DC00'],
    [{ ...valid, createdAt: '1969-12-31T23:59:59Z' }, 'createdAt', 'range', 'createdAt must be in the years 1970 to 2099'],
    [{ ...valid, createdAt: '2100-01-01T00:00:00Z' }, 'createdAt', 'range', undefined],
    [{ ...valid, createdAt: '0001-01-01T00:00:00Z' }, 'createdAt', 'range', undefined],
    [
      // biome-ignore lint/correctness/noPrecisionLoss: a number beyond 2^53, which must be refused
      { ...valid, data: { n: 12345678901234567890 } },
      'data.n',
      'json',
      'data.n must be sent as a string: integers beyond 2^53-1 lose digits',
    ],
    [{ ...valid, data: { list: [-(2 ** 53)] } }, 'data.list[0]', 'json', undefined],
    [{ ...valid, data: { big: 1e300 } }, 'data.big', 'json', undefined],
    [{ ...valid, data: { text: 'a\ud800b' } }, 'data.text', 'json', 'data.text must not contain U+D800'],
    [{ ...valid, data: { nested: { '\udfff': 1 } } }, 'data.nested', 'json', 'data.nested must not use the key "\udfff"'],
    [null, 'engagement', 'type', 'engagement must be an object'],
    [[valid], 'engagement', 'type', undefined],
  ])('refuses %#: %s', (input, field, rule, message) => {
    const violation = checkEngagement(input)
    expect(violation).toMatchObject({ field, rule })
    if (message) expect(violation?.message).toBe(message)
    // The zod schema built from the same rules says exactly the same.
    expect(firstViolation(engagementSchema, input)).toEqual(violation)
  })

  it('accepts what the character rules leave alone: pairs, tabs and line breaks in descriptions, the edges of the ranges', () => {
    const emoji = '\ud83d\ude00'
    const fine = [
      { ...valid, type: `PRODUCT ${emoji}`, name: `Réservé ${emoji} 日本`, description: `two lines\r\nand\ta tab ${emoji}` },
      { ...valid, contactEmail: `jürgen.${emoji}@exämple.com` },
      { ...valid, createdAt: '1970-01-01T00:00:00Z' },
      { ...valid, createdAt: '2099-12-31T23:59:59.999Z' },
      { ...valid, data: { max: 2 ** 53 - 1, min: -(2 ** 53 - 1), fraction: 0.1, tiny: 5e-324, text: emoji, [emoji]: 'key' } },
    ]
    for (const engagement of fine) {
      expect(checkEngagement(engagement)).toBeUndefined()
      expect(firstViolation(engagementSchema, engagement)).toBeUndefined()
    }
  })

  it('caps data at 16 KiB as JSON, in UTF-8 bytes, and depth at 10 levels', () => {
    const euro = '€' // three bytes in UTF-8
    const fits = { s: euro.repeat(Math.floor((LIMITS.dataBytes - 8) / 3)) }
    expect(utf8Length(JSON.stringify(fits))).toBeLessThanOrEqual(LIMITS.dataBytes)
    expect(firstViolation(engagementSchema, { ...valid, data: fits })).toBeUndefined()
    expect(firstViolation(engagementSchema, { ...valid, data: { s: fits.s + euro.repeat(3) } })).toMatchObject({
      field: 'data',
      rule: 'max',
    })
    let deep: Record<string, unknown> = { leaf: 1 }
    for (let i = 0; i < 9; i++) deep = { deep }
    expect(firstViolation(engagementSchema, { ...valid, data: deep })).toBeUndefined()
    expect(firstViolation(engagementSchema, { ...valid, data: { deep } })?.message).toMatch(/deeper than 10 levels/)
  })

  it('lets a draft wait for its contact, but not break any other rule', () => {
    const { contactEmail: _, ...draft } = valid
    expect(checkEngagement(draft, true)).toBeUndefined()
    expect(checkEngagement(draft)?.field).toBe('contactEmail')
    expect(checkEngagement({ ...draft, type: '' }, true)?.field).toBe('type')
    expect(firstViolation(draftEngagementSchema, draft)).toBeUndefined()
    expect(firstViolation(draftEngagementSchema, { ...draft, type: '' })?.field).toBe('type')
  })

  it('checks emails for identify() with the same rule', () => {
    expect(checkEmail('john@example.com')).toBeUndefined()
    expect(checkEmail('john')).toEqual({
      field: 'email',
      rule: 'format',
      message: 'email must be an email address such as john@example.com',
    })
    expect(checkEmail(undefined)).toMatchObject({ rule: 'required', message: 'email is required' })
  })

  it('gives the same verdict in plain code and as a zod schema, for anything (property)', () => {
    const fieldValue = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 6 }),
      fc.constantFrom('john@example.com', '2025-08-12T09:21:45Z', '2025-02-30T00:00:00Z', 'x'.repeat(300), 'a b', ''),
      fc.integer(),
      fc.anything({ maxDepth: 2 }),
    )
    const candidate = fc.oneof(
      fc.record(
        {
          id: fieldValue,
          contactEmail: fieldValue,
          type: fieldValue,
          name: fieldValue,
          description: fieldValue,
          createdAt: fieldValue,
          data: fieldValue,
          extra: fieldValue,
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    )
    fc.assert(
      fc.property(candidate, (input) => {
        expect(firstViolation(engagementSchema, input)).toEqual(checkEngagement(input))
        expect(firstViolation(draftEngagementSchema, input)).toEqual(checkEngagement(input, true))
      }),
      { numRuns: 2000 },
    )
  })

  it('accepts whatever the tracker can produce (property)', () => {
    const jsonValue = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string({ unit: 'grapheme' }),
        fc.double({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1, noNaN: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(
          fc.string({ minLength: 1, unit: 'grapheme' }).filter((key) => !['__proto__', 'constructor', 'prototype'].includes(key)),
          tie('value'),
          { maxKeys: 3 },
        ),
      ),
    })).value
    fc.assert(
      fc.property(
        fc.record({
          id: fc.stringMatching(/^[\w.:-]{1,128}$/),
          contactEmail: fc.emailAddress().filter((email) => email.length <= 254 && /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/.test(email)),
          type: fc.string({ minLength: 1, maxLength: 100 }),
          createdAt: fc
            .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59.999Z'), noInvalidDate: true })
            .map((date) => date.toISOString()),
          data: fc.dictionary(
            fc.string({ minLength: 1, maxLength: 20 }).filter((key) => !['__proto__', 'constructor', 'prototype'].includes(key)),
            jsonValue,
            { maxKeys: 5 },
          ),
        }),
        (engagement) => {
          expect(checkEngagement(engagement)).toBeUndefined()
          expect(firstViolation(engagementSchema, engagement)).toBeUndefined()
        },
      ),
    )
  })

  it('never throws, whatever it is given, and always names a field (property)', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true }), (input) => {
        const violation = checkEngagement(input)
        expect(violation?.field).toBeTruthy()
        expect(violation!.message.startsWith(violation!.field)).toBe(true)
      }),
    )
  })
})

describe('request contracts', () => {
  it('accepts 1 to 200 items in a client request and leaves items to be checked one by one', () => {
    expect(firstViolation(clientRequestSchema, { batch: [{}], identity: { 'a@b.co': 'sig' } })).toBeUndefined()
    expect(firstViolation(clientRequestSchema, { batch: [] })?.message).toBe('batch must hold at least one engagement')
    expect(firstViolation(clientRequestSchema, { batch: Array(201).fill({}) })?.message).toBe('batch must be at most 200 engagements')
    expect(firstViolation(clientRequestSchema, { batch: {} })?.field).toBe('batch')
    expect(firstViolation(clientRequestSchema, { batch: [{}], identity: { 'a@b.co': 5 } })?.field).toBe('identity.a@b.co')
  })

  it('checks every engagement of an upstream request', () => {
    expect(firstViolation(upstreamRequestSchema, { batch: [valid] })).toBeUndefined()
    expect(firstViolation(upstreamRequestSchema, { batch: [valid, { ...valid, type: '' }] })?.field).toBe('batch[1].type')
  })

  it('recognizes a settlement', () => {
    expect(isSettlement({ accepted: 1, duplicates: 0, rejected: [{ id: 'a', reason: 'r' }] })).toBe(true)
    expect(isSettlement({ accepted: 1, duplicates: 0 })).toBe(false)
    expect(isSettlement({ accepted: -1, duplicates: 0, rejected: [] })).toBe(false)
    expect(isSettlement({ accepted: 1, duplicates: 0, rejected: [{ id: 1 }] })).toBe(false)
    expect(isSettlement('ok')).toBe(false)
  })
})

describe('helpers', () => {
  it('formats paths', () => {
    expect(formatPath(['data', 'items', 2, 'name'])).toBe('data.items[2].name')
    expect(formatPath([])).toBe('')
  })

  it('checks calendar dates', () => {
    expect(isRealDate('2024-02-29T00:00:00Z')).toBe(true)
    expect(isRealDate('2025-02-29T00:00:00Z')).toBe(false)
    expect(isRealDate('2025-04-31T00:00:00Z')).toBe(false)
    expect(isRealDate('2025-01-01T24:00:00Z')).toBe(false)
    expect(isRealDate('2025-01-01T23:59:60Z')).toBe(false)
    expect(isRealDate('2025-08-12T09:21+02:00')).toBe(true)
    expect(isRealDate('2025-08-12')).toBe(false)
  })

  it('checks calendar dates as the arithmetic of their parts says (property)', () => {
    // The parts, rebuilt with Date.UTC and compared one by one.
    const byParts = (value: string) => {
      const parts = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(value)
      if (!parts) return false
      const [year, month, day, hour, minute, second] = parts.slice(1).map((part) => Number(part ?? 0)) as number[]
      // Not Date.UTC, which reads years 0 to 99 as 1900 to 1999 (and so rolls 0000-02-29 over).
      const date = new Date(0)
      date.setUTCFullYear(year!, month! - 1, day)
      date.setUTCHours(hour!, minute!, second!, 0)
      return (
        [
          date.getUTCFullYear(),
          date.getUTCMonth() + 1,
          date.getUTCDate(),
          date.getUTCHours(),
          date.getUTCMinutes(),
          date.getUTCSeconds(),
        ].join() === [year, month, day, hour, minute, second].join()
      )
    }
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'))
    const candidate = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }),
        two(13),
        two(32),
        two(25),
        two(61),
        fc.option(two(61)),
        fc.constantFrom('Z', '+02:00', '.5Z', ''),
      )
      .map(
        ([year, month, day, hour, minute, second, tail]) =>
          `${String(year).padStart(4, '0')}-${month}-${day}T${hour}:${minute}${second === null ? '' : `:${second}`}${tail}`,
      )
    fc.assert(
      fc.property(candidate, (value) => {
        expect(isRealDate(value)).toBe(byParts(value))
      }),
      { numRuns: 5000 },
    )
  })

  it('writes an email in its canonical form: ASCII letters lowercased, everything else as it is', () => {
    expect(canonicalEmail('John.DOE@Example.com')).toBe('john.doe@example.com')
    // The Kelvin sign, the dotted capital I and a capital E with accent are not ASCII letters.
    expect(canonicalEmail('\u212Aate@example.com')).toBe('\u212Aate@example.com')
    expect(canonicalEmail('\u0130nga@Example.com')).toBe('\u0130nga@example.com')
    expect(canonicalEmail('\u00C9lodie@example.com')).toBe('\u00C9lodie@example.com')
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (email) => {
        const canonical = canonicalEmail(email)
        expect(canonical).toHaveLength(email.length)
        for (let i = 0; i < email.length; i++) {
          const code = email.charCodeAt(i)
          expect(canonical.charCodeAt(i)).toBe(code >= 65 && code <= 90 ? code + 32 : code)
        }
      }),
    )
  })

  it('counts UTF-8 bytes like TextEncoder', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length)
      }),
    )
  })

  it('finds no problem in JSON that came from JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const wrapped = { value: JSON.parse(JSON.stringify(value)) }
        const problem = findJsonProblem(wrapped, 64)
        // JSON.parse can produce "__proto__" keys and rounded integers; those are refused on purpose.
        if (problem) expect(problem.message).toMatch(/must not use the key|must be sent as a string/)
      }),
    )
  })
})
