import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkEngagement, type RuleViolation } from '../src/contract.js'
import { utf8Length } from '../src/core/json.js'
import { checkData, engagementJson, NOT_JSON_MESSAGE, readClientRequest, type ReadItem } from '../src/proxy/intake/index.js'
import { clientRequestSchema, firstViolation } from '../src/schemas.js'
import { mutate, mutation, objectText, parsed, RawJson, spell, spellString, tape, type Tape } from './helpers/json-text.js'

const VALID = { id: 'e-1', contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' }
const OPTIONAL = {
  name: 'Report exported',
  description: 'Two lines,\nwith a tab\t',
  data: { format: 'csv', rows: 3, tags: ['a', 'b'], nested: { ok: true, none: null } },
}

/** Whether `text` has no unpaired surrogate (encodeURIComponent refuses those). */
function isWellFormed(text: string): boolean {
  try {
    encodeURIComponent(text)
    return true
  } catch {
    return false
  }
}

const nested = (levels: number): unknown => (levels === 0 ? 1 : { deeper: nested(levels - 1) })

/** Members that each break exactly one rule of an engagement (or, for `data`, of its data). */
const ONE_RULE_BROKEN: [string, unknown][] = [
  ['id', ''],
  ['id', 'a/b'],
  ['id', 'x'.repeat(129)],
  ['id', 5],
  ['contactEmail', 'john'],
  ['contactEmail', 'jo\u200bhn@example.com'],
  ['contactEmail', 'j\udc00@example.com'],
  ['contactEmail', null],
  ['type', ''],
  ['type', 'A\nB'],
  ['type', 'x'.repeat(101)],
  ['type', []],
  ['name', 'a\u0000'],
  ['name', 7],
  ['name', 'n'.repeat(257)],
  ['description', 'bell\u0007'],
  ['description', { a: 1 }],
  ['createdAt', '1969-12-31T23:59:59Z'],
  ['createdAt', '2025-02-30T00:00:00Z'],
  ['createdAt', 'yesterday'],
  ['data', null],
  ['data', []],
  ['data', 'text'],
  // biome-ignore lint/correctness/noPrecisionLoss: a number beyond 2^53, which must be refused
  ['data', { n: 12345678901234567890 }],
  ['data', { n: new RawJson('1e400') }],
  ['data', { list: [1, 2, -(2 ** 53)] }],
  ['data', { a: { text: 'half \ud800' } }],
  ['data', { a: [{ '\udfff': 1 }] }],
  ['data', { constructor: 1 }],
  ['data', { a: [{ prototype: 1 }] }],
  ['data', nested(11)],
  ['data', { big: 'x'.repeat(16_380) }],
  ['data', { big: 'é'.repeat(8_190) }],
  ['extra', 1],
  ['__proto__', { admin: true }],
  ['7', 1],
]

/** An item's members: the valid engagement's, some optional ones, in an order the tape chooses. */
function validMembers(choices: Tape): [string, unknown][] {
  const members: [string, unknown][] = Object.entries(VALID)
  for (const [key, value] of Object.entries(OPTIONAL)) if (choices.pick(2) === 1) members.push([key, value])
  for (let i = members.length - 1; i > 0; i--) {
    const j = choices.pick(i + 1)
    ;[members[i], members[j]] = [members[j] as [string, unknown], members[i] as [string, unknown]]
  }
  return members
}

/** The item with `member` in place of its field (or added), or repeated after a broken first value. */
function withMember(members: [string, unknown][], [key, value]: [string, unknown], choices: Tape): [string, unknown][] {
  const others = members.filter(([name]) => name !== key)
  switch (choices.pick(3)) {
    case 0:
      return [...others, [key, value]]
    case 1:
      return [[key, value], ...others]
    default:
      // A repeated key: the last one counts, as in JSON.parse, so the first can be anything.
      return [[key, 'overwritten'], ...others, [key, value]]
  }
}

const itemText = (members: [string, unknown][], choices: Tape) => objectText(members.map(([key, value]) => [key, spell(value, choices)]))
const bodyOf = (items: string[], choices: Tape) => `{"batch":[${items.join(',')}]${choices.pick(2) ? ',"identity":{}' : ''}}`

/** What the intake says of the first item of `body`: its violation, or the engagement it forwards. */
function intakeVerdict(body: string): { violation: RuleViolation | undefined; json: string | undefined; item: ReadItem } {
  const read = readClientRequest(body)
  if (!read.ok) throw new Error(`the body was refused: ${read.message}`)
  const item = read.items[0] as ReadItem
  if (item.violation) return { violation: item.violation, json: undefined, item }
  const data = item.data && checkData(body, item.data.start, item.data.end)
  if (data && !data.ok) return { violation: data.violation, json: undefined, item }
  return { violation: undefined, json: engagementJson(item.fields, data?.json), item }
}

/** `readClientRequest` against JSON.parse and the zod schema, for any text. */
function expectSameBodyVerdict(text: string): void {
  const read = readClientRequest(text)
  const value = parsed(text)
  if (!value) {
    expect(read).toEqual({ ok: false, message: NOT_JSON_MESSAGE })
    return
  }
  const violation = firstViolation(clientRequestSchema, value.value, 'body')
  if (violation) {
    expect(read).toEqual({ ok: false, message: violation.message })
    return
  }
  const request = value.value as { batch: unknown[]; identity?: Record<string, string> }
  expect(read.ok).toBe(true)
  if (!read.ok) return
  expect(read.items.map((item) => item.index)).toEqual(request.batch.map((_, index) => index))
  expect([...read.identity]).toEqual(Object.entries(request.identity ?? {}).filter(([key]) => key !== '__proto__'))
}

describe('intake: the body', () => {
  it.each([
    ['', NOT_JSON_MESSAGE],
    ['{"batch":[{}]', NOT_JSON_MESSAGE],
    ['{"batch":[{}]} {}', NOT_JSON_MESSAGE],
    ['\ufeff{"batch":[{}]}', NOT_JSON_MESSAGE],
    ['{"batch":[{}],}', NOT_JSON_MESSAGE],
    ['{"batch":["\u0001"]}', NOT_JSON_MESSAGE],
    ['[]', 'body must be an object with a "batch" array'],
    ['null', 'body must be an object with a "batch" array'],
    ['{}', 'batch is required'],
    ['{"batch":{}}', 'batch must be an array of engagements'],
    ['{"batch":[]}', 'batch must hold at least one engagement'],
    [`{"batch":[${Array(201).fill('{}').join(',')}]}`, 'batch must be at most 200 engagements'],
    ['{"batch":[{}],"identity":[]}', 'identity must be an object of email: signature'],
    ['{"batch":[{}],"identity":{"b@x.co":"","a@x.co":5}}', 'identity.b@x.co must not be empty'],
    ['{"batch":[{}],"identity":{"b":5,"3":"","1":"ok"}}', 'identity.3 must not be empty'],
    [`{"batch":[{}],"identity":{"a@x.co":"${'s'.repeat(129)}"}}`, 'identity.a@x.co must be at most 128 characters'],
  ])('refuses %j as the schema does: %s', (text, message) => {
    expect(readClientRequest(text)).toEqual({ ok: false, message })
    expectSameBodyVerdict(text)
  })

  it('takes the last of repeated keys, as JSON.parse does, and leaves __proto__ out of identity as zod does', () => {
    const read = readClientRequest('{"batch":7,"identity":5,"batch":[{},{}],"identity":{"__proto__":5,"a@x.co":"1","a@x.co":"2"}}')
    expect(read.ok && read.items.length).toBe(2)
    expect(read.ok && [...read.identity]).toEqual([['a@x.co', '2']])
  })

  it('reads a body nested half a million levels deep without a call stack', () => {
    const depth = 500_000
    const text = `{"batch":[{}],"x":${'['.repeat(depth)}${']'.repeat(depth)}}`
    expect(readClientRequest(text).ok).toBe(true)
    expect(readClientRequest(`${text.slice(0, -2)}}`).ok).toBe(false)
  })

  it('accepts exactly what JSON.parse accepts, and judges the body as the schema does (random texts, property)', () => {
    const alphabet = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      '\\',
      'u',
      '0',
      '1',
      '9',
      'e',
      'E',
      '+',
      '-',
      '.',
      't',
      'r',
      'n',
      'l',
      'f',
      'a',
      's',
      ' ',
      '\n',
      'batch',
      'identity',
      '"batch":',
      '\u0000',
      '\ud800',
    )
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 40 }), (text) => expectSameBodyVerdict(text)),
      { numRuns: 3000 },
    )
  })

  it('judges bodies of any shape as the schema does, repeated keys included (property)', () => {
    const signature = fc.oneof(
      fc.string({ maxLength: 3 }),
      fc.constant('s'.repeat(129)),
      fc.constant('1.abc'),
      fc.jsonValue({ maxDepth: 1 }),
    )
    const identity = fc.oneof(
      fc.dictionary(fc.oneof(fc.constantFrom('a@x.co', '1', '0', '__proto__', '4294967295'), fc.string({ maxLength: 3 })), signature, {
        maxKeys: 4,
      }),
      fc.jsonValue({ maxDepth: 1 }),
    )
    const batch = fc.oneof(
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
      fc.constant(Array(201).fill({})),
      fc.jsonValue({ maxDepth: 1 }),
    )
    const member = fc.oneof(
      batch.map((value) => ['batch', value] as const),
      identity.map((value) => ['identity', value] as const),
      fc.tuple(fc.constantFrom('x', '__proto__', 'Batch'), fc.jsonValue({ maxDepth: 2 })),
    )
    const body = fc.oneof(
      fc.array(member, { maxLength: 4 }).map((members) => ({ members })),
      fc.jsonValue({ maxDepth: 1 }).map((value) => ({ value })),
    )
    fc.assert(
      fc.property(body, tape, (shape, choices) => {
        const text =
          'members' in shape ? objectText(shape.members.map(([key, value]) => [key, spell(value, choices)])) : spell(shape.value, choices)
        expectSameBodyVerdict(text)
      }),
      { numRuns: 1500 },
    )
  })

  it('accepts exactly what JSON.parse accepts among edits of valid bodies (property)', () => {
    fc.assert(
      fc.property(tape, fc.array(mutation, { minLength: 1, maxLength: 3 }), (choices, edits) => {
        const valid = bodyOf([itemText(validMembers(choices), choices)], choices)
        expectSameBodyVerdict(edits.reduce((text, edit) => mutate(text, edit), valid))
      }),
      { numRuns: 3000 },
    )
  })
})

describe('intake: each engagement', () => {
  it('forwards a valid engagement as one JSON text, fields in contract order, deep-equal to what was sent', () => {
    const sent = {
      data: { b: [1.5, 'x\\/'], a: 1e2 },
      createdAt: VALID.createdAt,
      type: VALID.type,
      contactEmail: VALID.contactEmail,
      id: VALID.id,
      name: 'n',
    }
    const body = `{"batch":[ {"data": {"b": [1.50, "x\\\\\\/"], "a": 1E2}, ${objectText(
      Object.entries(sent)
        .slice(1)
        .map(([k, v]) => [k, JSON.stringify(v)]),
    ).slice(1, -1)}} ]}`
    const { json, violation } = intakeVerdict(body)
    expect(violation).toBeUndefined()
    expect(json).toBe(
      '{"id":"e-1","contactEmail":"john@example.com","type":"PRODUCT_ACTIVITY","name":"n","createdAt":"2025-08-12T09:21:45Z","data":{"b":[1.5,"x\\\\/"],"a":100}}',
    )
    expect(JSON.parse(json as string)).toEqual(JSON.parse(body).batch[0])
  })

  it('reports a refused item under its own id when it has a usable one, else its position', () => {
    const read = readClientRequest(`{"batch":[5,{"id":"mine","type":""},{"id":""},{"id":"${'x'.repeat(129)}"},{"id":7}]}`)
    expect(read.ok && read.items.map((item) => [item.reportId, item.violation?.message])).toEqual([
      ['batch[0]', 'engagement must be an object'],
      ['mine', 'type must not be empty'],
      ['batch[2]', "id must be letters, digits, '_', '.', ':' or '-'"],
      ['batch[3]', 'id must be at most 128 characters'],
      ['batch[4]', 'id must be a string'],
    ])
  })

  it('names the unknown field JavaScript lists first: integer-like keys, smallest first', () => {
    const members = Object.entries(VALID).map(([key, value]) => [key, JSON.stringify(value)] as const)
    const text = objectText([...members, ['b', '1'], ['10', '1'], ['2', '1'], ['4294967295', '1']])
    expect(intakeVerdict(`{"batch":[${text}]}`).violation).toEqual(checkEngagement(JSON.parse(text)))
    expect(checkEngagement(JSON.parse(text))?.field).toBe('2')
  })

  it('refuses a key repeated inside data, which a parsed object cannot show', () => {
    const text = `{"batch":[${objectText([...Object.entries(VALID).map(([k, v]) => [k, JSON.stringify(v)] as [string, string]), ['data', '{"a":{"x":1,"\\u0078":2}}']])}]}`
    expect(intakeVerdict(text).violation).toEqual({ field: 'data.a', rule: 'json', message: 'data.a must not repeat the key "x"' })
    const many = `{${Array.from({ length: 12 }, (_, i) => `"k${i}":${i}`).join(',')},"k3":0}`
    expect(checkData(many, 0, many.length)).toMatchObject({ ok: false, violation: { message: 'data must not repeat the key "k3"' } })
  })

  it('gives the verdict checkEngagement gives the parsed item, field, rule and message alike, when one rule is broken (property)', () => {
    fc.assert(
      fc.property(tape, fc.constantFrom(...ONE_RULE_BROKEN), (choices, broken) => {
        const text = itemText(withMember(validMembers(choices), broken, choices), choices)
        const expected = checkEngagement(JSON.parse(text))
        expect(expected).toBeDefined()
        expect(intakeVerdict(bodyOf([text], choices)).violation).toEqual(expected)
      }),
      { numRuns: 1500 },
    )
  })

  it('gives the same verdict for items breaking several rules, none, or missing fields (property)', () => {
    const required = Object.keys(VALID)
    fc.assert(
      fc.property(
        tape,
        fc.array(fc.constantFrom(...ONE_RULE_BROKEN), { maxLength: 3 }),
        fc.subarray(required, { maxLength: 2 }),
        (choices, broken, missing) => {
          let members = validMembers(choices).filter(([key]) => !missing.includes(key))
          for (const member of broken) members = withMember(members, member, choices)
          const text = itemText(members, choices)
          const expected = checkEngagement(JSON.parse(text))
          const { violation, json } = intakeVerdict(bodyOf([text], choices))
          expect(violation === undefined).toBe(expected === undefined)
          if (broken.length + missing.length <= 1) expect(violation).toEqual(expected)
          if (json !== undefined) expect(JSON.parse(json)).toEqual(JSON.parse(text))
        },
      ),
      { numRuns: 1500 },
    )
  })
  it('gives each item of a body the verdict checkEngagement gives it, values repeated from item to item included (property)', () => {
    const maybeBroken = fc.option(fc.constantFrom(...ONE_RULE_BROKEN), { nil: undefined })
    fc.assert(
      fc.property(tape, fc.array(maybeBroken, { minLength: 2, maxLength: 6 }), (choices, brokenPerItem) => {
        const items = brokenPerItem.map((broken) =>
          itemText(broken ? withMember(validMembers(choices), broken, choices) : validMembers(choices), choices),
        )
        const body = bodyOf(items, choices)
        const read = readClientRequest(body)
        if (!read.ok) throw new Error(`the body was refused: ${read.message}`)
        read.items.forEach((item, index) => {
          const data = !item.violation && item.data ? checkData(body, item.data.start, item.data.end) : undefined
          const violation = item.violation ?? (data && !data.ok ? data.violation : undefined)
          expect(violation).toEqual(checkEngagement(JSON.parse(items[index] as string)))
        })
      }),
      { numRuns: 500 },
    )
  })
})

describe('intake: data', () => {
  const check = (text: string) => checkData(text, 0, text.length)
  const treeVerdict = (value: unknown) => checkEngagement({ ...VALID, data: value })

  it('writes compact JSON as JSON.stringify writes it, and counts its bytes so', () => {
    const text = ' { "a" : [ 1.0 , -0 , 1E2 , 0.10 , 1e-7 , 2.5e-8 , 12.50e2 ] , "s" : "\\u00e9\\/\\ud83d\\ude00\\u0001\\"" } '
    expect(check(text)).toEqual({ ok: true, json: '{"a":[1,0,100,0.1,1e-7,2.5e-8,1250],"s":"é/😀\\u0001\\""}' })
  })

  it('refuses data past 16 KiB as JSON, counted after the escapes are written as stringify writes them', () => {
    const fits = { s: 'é'.repeat((16_384 - 8) / 2) }
    expect(utf8Length(JSON.stringify(fits))).toBe(16_384)
    const spelled = `{"s":"${'\\u00e9'.repeat((16_384 - 8) / 2)}"}`
    expect(check(spelled)).toMatchObject({ ok: true })
    expect(treeVerdict(fits)).toBeUndefined()
    const over = `{"s":"${'\\u00e9'.repeat((16_384 - 8) / 2)}x"}`
    expect(check(over)).toEqual({ ok: false, violation: treeVerdict(JSON.parse(over)) })
  })

  it('throws when the range is not one JSON value', () => {
    expect(() => check('{"a":1')).toThrow()
    expect(() => check('{"a":1} 2')).toThrow()
  })

  it('gives the verdict checkEngagement gives, and compact JSON equal to the parsed data (property)', () => {
    const special = fc.constantFrom(
      2 ** 53 - 1,
      2 ** 53,
      -(2 ** 53),
      1e15,
      // biome-ignore lint/correctness/noPrecisionLoss: a number beyond 2^53, which must be refused
      9007199254740993,
      1e300,
      5e-324,
      0.1,
      '\ud800',
      'a\udfffb',
      '\ud83d\ude00',
      '/',
      '\u0000\u001f',
      '"\\',
      'é',
    )
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: 'small', maxDepth: 12 },
        fc.jsonValue({ maxDepth: 0 }),
        special,
        fc.array(tie('any'), { maxLength: 3 }),
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__proto__', 'constructor', 'prototype', '\ud800')),
          tie('any'),
          { maxKeys: 3 },
        ),
      ),
    })).any
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 4 }), value, { maxKeys: 4 }), tape, (data, choices) => {
        const text = spell(data, choices)
        const verdict = check(text)
        const expected = treeVerdict(JSON.parse(text))
        expect(verdict.ok).toBe(expected === undefined)
        if (verdict.ok) {
          expect(JSON.parse(verdict.json)).toEqual(JSON.parse(text))
          expect(utf8Length(verdict.json)).toBe(utf8Length(JSON.stringify(JSON.parse(text))))
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('names the same field, rule and message as checkEngagement when the data breaks one rule (property)', () => {
    const breaking: [string, unknown][] = [
      // biome-ignore lint/correctness/noPrecisionLoss: a number beyond 2^53, which must be refused
      ['n', 12345678901234567890],
      ['n', new RawJson('-1e400')],
      ['n', new RawJson('1e309')],
      ['s', 'x\ud800'],
      ['\ud800', 1],
      ['constructor', 1],
      ['__proto__', 1],
      ['deep', nested(9)],
      ['big', 'x'.repeat(16_384)],
    ]
    const clean = fc
      .dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
      .filter((data) => treeVerdict(data) === undefined)
    fc.assert(
      fc.property(
        clean,
        fc.constantFrom(...breaking),
        fc.array(fc.constantFrom('a', 'b', 0, 1), { maxLength: 3 }),
        tape,
        (data, [key, bad], path, choices) => {
          // Put the broken member at `path` inside otherwise clean data.
          let holder: Record<string, unknown> = { [key]: bad }
          for (const step of path)
            holder = typeof step === 'number' ? ({ list: [...Array(step).fill(0), holder] } as never) : { [step]: holder }
          const text = spell({ ...data, inner: holder }, choices)
          const expected = treeVerdict(JSON.parse(text))
          if (JSON.parse(text).inner === undefined) return // the key "inner" was in data already
          expect(check(text)).toEqual(expected === undefined ? expect.objectContaining({ ok: true }) : { ok: false, violation: expected })
        },
      ),
      { numRuns: 1500 },
    )
  })
})

describe('intake: the JSON it writes', () => {
  it('spells strings as stringify does, for any UTF-16 text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), tape, (value, choices) => {
        const text = `{"k":${spellString(value, choices)}}`
        const verdict = check(text)
        expect(verdict.ok).toBe(isWellFormed(value))
        if (verdict.ok) expect(verdict.json).toBe(JSON.stringify({ k: value }))
      }),
      { numRuns: 3000 },
    )
  })

  it('spells numbers as stringify does, for any spelling JSON allows (property)', () => {
    const digits = fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: 1, maxLength: 20 })
    const token = fc
      .tuple(
        fc.boolean(),
        digits,
        fc.option(digits),
        fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 }))),
      )
      .map(
        ([negative, whole, fraction, exponent]) =>
          `${negative ? '-' : ''}${whole.replace(/^0+(?=.)/, '')}${fraction === null ? '' : `.${fraction}`}${exponent === null ? '' : exponent.join('')}`,
      )
    fc.assert(
      fc.property(fc.oneof(token, fc.double({ noNaN: true, noDefaultInfinity: true }).map(String)), (number) => {
        const value = Number(number)
        const verdict = check(`{"n":${number}}`)
        const safe = Number.isFinite(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER
        expect(verdict.ok).toBe(safe)
        if (verdict.ok) expect(verdict.json).toBe(JSON.stringify({ n: value }))
        else expect(verdict.violation).toEqual(treeVerdict({ n: value }))
      }),
      { numRuns: 5000 },
    )
  })

  function check(text: string) {
    return checkData(text, 0, text.length)
  }
  function treeVerdict(value: unknown) {
    return checkEngagement({ ...VALID, data: value })
  }
})
