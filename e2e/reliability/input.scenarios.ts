/**
 * Bad input, in the real browser through the built bundle: every malformed call returns
 * `{ ok: false, error }` naming the field and the rule, nothing throws into the page, and the
 * good engagements tracked between the bad ones all arrive.
 */
import { expect, test, watchConsole } from './support/fixtures.js'

/** One malformed call as the page makes it, and what it must say. */
interface Outcome {
  label: string
  field: string
  rule: string
  result: unknown
  threw: string | undefined
  goodId: string | undefined
}

test('85 malformed tracker calls are refused with a field and a rule; the good ones between them arrive', async ({ stack, page }) => {
  const consoleErrors = watchConsole(page)
  await stack.open(page)

  const outcomes: Outcome[] = await page.evaluate(() => {
    const conversion = window.conversion as unknown as (...args: unknown[]) => unknown
    const base = { type: 'PRODUCT_ACTIVITY', name: 'Bad input' }
    const withData = (data: unknown) => ({ ...base, data })
    const own = (target: Record<string, unknown>, key: string, value: unknown) => {
      Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true })
      return target
    }
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    let deep: Record<string, unknown> = { leaf: true }
    for (let i = 0; i < 10; i++) deep = { deep }
    class Point {
      x = 1
    }
    const track = (input: unknown) => () => conversion('track', input)
    const identify =
      (...args: unknown[]) =>
      () =>
        conversion('identify', ...args)
    // [label, field, rule, call]
    const cases: [string, string, string, () => unknown][] = [
      // Not an object at all.
      ['no argument', 'engagement', 'required', track(undefined)],
      ['null', 'engagement', 'type', track(null)],
      ['a number', 'engagement', 'type', track(42)],
      ['a string', 'engagement', 'type', track('PRODUCT_ACTIVITY')],
      ['a boolean', 'engagement', 'type', track(true)],
      ['an array', 'engagement', 'type', track([base])],
      ['a function', 'engagement', 'type', track(() => base)],
      ['a Symbol', 'engagement', 'type', track(Symbol('engagement'))],
      ['a BigInt', 'engagement', 'type', track(10n)],
      // type
      ['no type', 'type', 'required', track({ name: 'x' })],
      ['type null', 'type', 'type', track({ type: null })],
      ['type a number', 'type', 'type', track({ type: 7 })],
      ['type an array', 'type', 'type', track({ type: ['PRODUCT_ACTIVITY'] })],
      ['type a String object', 'type', 'type', track({ type: new String('PRODUCT_ACTIVITY') })],
      ['type empty', 'type', 'min', track({ type: '' })],
      ['type of 101 characters', 'type', 'max', track({ type: 'T'.repeat(101) })],
      // name, description
      ['name a number', 'name', 'type', track({ ...base, name: 5 })],
      ['name an object', 'name', 'type', track({ ...base, name: { toString: () => 'x' } })],
      ['name of 257 characters', 'name', 'max', track({ ...base, name: 'n'.repeat(257) })],
      ['description null', 'description', 'type', track({ ...base, description: null })],
      ['description of 4,097 characters', 'description', 'max', track({ ...base, description: 'd'.repeat(4097) })],
      ['description of a megabyte', 'description', 'max', track({ ...base, description: 'd'.repeat(1_000_000) })],
      // id
      ['id empty', 'id', 'format', track({ ...base, id: '' })],
      ['id with a space', 'id', 'format', track({ ...base, id: 'has space' })],
      ['id with a slash', 'id', 'format', track({ ...base, id: '../../etc/passwd' })],
      ['id with a newline', 'id', 'format', track({ ...base, id: 'a\r\nX-Injected: 1' })],
      ['id of 129 characters', 'id', 'max', track({ ...base, id: 'i'.repeat(129) })],
      ['id a number', 'id', 'type', track({ ...base, id: 12345 })],
      ['id of emoji', 'id', 'format', track({ ...base, id: '🙂' })],
      // createdAt
      ['createdAt in words', 'createdAt', 'format', track({ ...base, createdAt: 'yesterday' })],
      ['createdAt a date without time', 'createdAt', 'format', track({ ...base, createdAt: '2025-08-12' })],
      ['createdAt February 30', 'createdAt', 'format', track({ ...base, createdAt: '2025-02-30T10:00:00Z' })],
      ['createdAt hour 25', 'createdAt', 'format', track({ ...base, createdAt: '2025-08-12T25:00:00Z' })],
      ['createdAt an invalid Date', 'createdAt', 'format', track({ ...base, createdAt: new Date('nope') })],
      ['createdAt NaN', 'createdAt', 'format', track({ ...base, createdAt: Number.NaN })],
      ['createdAt Infinity', 'createdAt', 'format', track({ ...base, createdAt: Number.POSITIVE_INFINITY })],
      ['createdAt beyond the year 275760', 'createdAt', 'format', track({ ...base, createdAt: 8.64e15 + 1 })],
      ['createdAt an object', 'createdAt', 'type', track({ ...base, createdAt: {} })],
      ['createdAt true', 'createdAt', 'type', track({ ...base, createdAt: true })],
      ['createdAt without a zone', 'createdAt', 'format', track({ ...base, createdAt: '2025-08-12T09:21:45' })],
      // contactEmail
      ['contactEmail without @', 'contactEmail', 'format', track({ ...base, contactEmail: 'not-an-email' })],
      ['contactEmail without a dot in the domain', 'contactEmail', 'format', track({ ...base, contactEmail: 'a@b' })],
      ['contactEmail with a space', 'contactEmail', 'format', track({ ...base, contactEmail: 'john doe@example.com' })],
      ['contactEmail empty', 'contactEmail', 'format', track({ ...base, contactEmail: '' })],
      ['contactEmail of 262 characters', 'contactEmail', 'max', track({ ...base, contactEmail: `${'j'.repeat(250)}@example.com` })],
      ['contactEmail a number', 'contactEmail', 'type', track({ ...base, contactEmail: 5 })],
      [
        'contactEmail with a header break',
        'contactEmail',
        'characters',
        track({ ...base, contactEmail: 'a@example.com\r\nBcc: x@example.com' }),
      ],
      // data
      ['data a string', 'data', 'json', track(withData('text'))],
      ['data an array', 'data', 'json', track(withData([1, 2]))],
      ['data null', 'data', 'json', track(withData(null))],
      ['data a Date inside', 'data.when', 'json', track(withData({ when: new Date() }))],
      ['data a Map inside', 'data.map', 'json', track(withData({ map: new Map([[1, 2]]) }))],
      ['data a Set inside', 'data.set', 'json', track(withData({ set: new Set([1]) }))],
      ['data a function inside', 'data.fn', 'json', track(withData({ fn: () => 1 }))],
      ['data a BigInt inside', 'data.big', 'json', track(withData({ big: 10n }))],
      ['data a Symbol inside', 'data.symbol', 'json', track(withData({ symbol: Symbol('s') }))],
      ['data NaN', 'data.n', 'json', track(withData({ n: Number.NaN }))],
      ['data Infinity', 'data.n', 'json', track(withData({ n: Number.NEGATIVE_INFINITY }))],
      ['data cyclic', 'data.self', 'json', track(withData(cyclic))],
      ['data 11 levels deep', 'data.deep.deep.deep.deep.deep.deep.deep.deep.deep.deep', 'json', track(withData({ deep }))],
      ['data of 20 KB', 'data', 'max', track(withData({ blob: 'x'.repeat(20_000) }))],
      ['data a class instance', 'data', 'json', track(withData(new Point()))],
      ['data a class instance inside', 'data.point', 'json', track(withData({ point: new Point() }))],
      ['data a typed array inside', 'data.bytes', 'json', track(withData({ bytes: new Uint8Array(4) }))],
      ['data with __proto__ (as JSON.parse makes it)', 'data', 'json', track(withData(JSON.parse('{"__proto__":{"polluted":true}}')))],
      ['data with constructor', 'data', 'json', track(withData({ constructor: { prototype: { polluted: true } } }))],
      ['data with prototype', 'data', 'json', track(withData({ prototype: 1 }))],
      [
        'data with __proto__ deep inside',
        'data.nested',
        'json',
        track(withData({ nested: JSON.parse('{"__proto__":{"polluted":true}}') })),
      ],
      ['data a function in a list', 'data.list[2]', 'json', track(withData({ list: [1, 'two', () => 3] }))],
      // Fields that do not exist, or pollute
      ['a misspelt field (createAt)', 'createAt', 'unknown-field', track({ ...base, createAt: '2025-08-12T09:21:45Z' })],
      ['an unknown field', 'extra', 'unknown-field', track({ ...base, extra: true })],
      ['an own __proto__ field', '__proto__', 'unknown-field', track(JSON.parse('{"type":"PRODUCT_ACTIVITY","__proto__":{"admin":true}}'))],
      ['an own constructor field', 'constructor', 'unknown-field', track({ ...base, constructor: 'x' })],
      ['an own toString field', 'toString', 'unknown-field', track(own({ ...base }, 'toString', 'x'))],
      ['an own hasOwnProperty field', 'hasOwnProperty', 'unknown-field', track(own({ ...base }, 'hasOwnProperty', 1))],
      // identify
      ['identify()', 'email', 'required', identify()],
      ['identify(null)', 'email', 'type', identify(null)],
      ['identify(42)', 'email', 'type', identify(42)],
      ['identify({ email })', 'email', 'type', identify({ email: 'john@example.com' })],
      ['identify("not an email")', 'email', 'format', identify('not an email')],
      ['identify of 262 characters', 'email', 'max', identify(`${'j'.repeat(250)}@example.com`)],
      ['identify with a signature of 5', 'signature', 'format', identify('john@example.com', { signature: 5 })],
      ['identify with an empty signature', 'signature', 'format', identify('john@example.com', { signature: '' })],
      ['identify with a signature of 129 characters', 'signature', 'format', identify('john@example.com', { signature: 's'.repeat(129) })],
      ['identify with the signature in place of the options', 'options', 'type', identify('john@example.com', '1755000000.abcdef')],
    ]
    return cases.map(([label, field, rule, call], index) => {
      let result: unknown
      let threw: string | undefined
      try {
        result = call()
      } catch (error) {
        threw = String(error)
      }
      // A good engagement after every bad call: none of them may be lost.
      const good = conversion('track', { type: 'PRODUCT_ACTIVITY', name: `Good ${index}` }) as { ok: boolean; id?: string }
      return { label, field, rule, result: JSON.parse(JSON.stringify(result ?? null)), threw, goodId: good.ok ? good.id : undefined }
    })
  })

  expect(outcomes).toHaveLength(85)
  const wrong = outcomes.filter(
    ({ field, rule, result, threw }) =>
      threw !== undefined ||
      JSON.stringify(result) !==
        JSON.stringify({
          ok: false,
          error: { code: 'invalid', field, rule, message: (result as { error?: { message?: string } })?.error?.message },
        }) ||
      !(result as { error: { message: string } }).error.message.startsWith(field),
  )
  expect(wrong.map(({ label, field, rule, result, threw }) => ({ label, expected: `${field} ${rule}`, result, threw }))).toEqual([])

  for (const { goodId } of outcomes) expect(goodId).toBeDefined()
  stack.book(
    outcomes.map(({ goodId }) => goodId as string),
    'Good',
  )
  expect(await page.evaluate(() => Object.hasOwn({}, 'polluted') || 'polluted' in {} || 'admin' in {})).toBe(false)
  await stack.settle([page])
  stack.conclude({ note: `${outcomes.length} malformed calls refused, each naming its field and rule; none threw` })
  expect(stack.pageErrors).toEqual([])
  expect(consoleErrors).toEqual([])
  // Only the good ones reached Conversion: none of the refused inputs did.
  expect(stack.emulator.engagements().every((record) => record.engagement.name?.startsWith('Good '))).toBe(true)
})
