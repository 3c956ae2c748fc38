/**
 * Inputs no honest caller sends, for the property tests that hold the tracker and the contract's
 * two checkers to one verdict: inherited names as own keys, odd values of every type.
 */
import fc from 'fast-check'

/** Names every object inherits: an `in` check finds them on any engagement. */
export const INHERITED = [...Object.getOwnPropertyNames(Object.prototype), 'prototype']

/** Adds `key` as an own, enumerable property, as JSON.parse does (even for `__proto__`). */
export function withOwn(target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true })
  return target
}

/** A value of any kind: `likely` ones (plausible field values), anything fast-check makes, or none. */
export function hostileValue(likely: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(undefined),
    likely,
    fc.anything({
      maxDepth: 2,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withBoxedValues: true,
    }),
  )
}

/** An engagement-shaped object: some of the required fields, plus own keys (known, inherited or any) of hostile values. */
export function hostileEngagement(value: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  const key = fc.oneof(
    fc.constantFrom('id', 'contactEmail', 'type', 'name', 'description', 'createdAt', 'data', ...INHERITED),
    fc.string({ maxLength: 8 }),
  )
  return fc
    .tuple(
      fc.record({ id: value, contactEmail: value, type: value, createdAt: value }, { requiredKeys: [] }),
      fc.array(fc.tuple(key, value), { maxLength: 4 }),
    )
    .map(([base, extras]) => extras.reduce((target, [name, item]) => withOwn(target, name, item), { ...base } as Record<string, unknown>))
}

/** Strings of any UTF-16 units (lone surrogates and controls included), email-shaped ones, and the invisible or reversing characters a contract must refuse. */
export const anyUnitsText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }).map((local) => `${local}@example.com`),
  fc.constantFrom('\u202e', '\u200b', '\ufeff', '\t', '\r\n', '\ud83d', '\ude00', '\ud83d\ude00', '\u0085'),
)

/** A `data` value built of {@link anyUnitsText}: text, any double, the edges of safe integers, or a small object of texts. */
export const anyUnitsValue: fc.Arbitrary<unknown> = fc.oneof(
  anyUnitsText,
  fc.double(),
  fc.constantFrom(2 ** 53, -(2 ** 53), 2 ** 53 - 1),
  fc.dictionary(anyUnitsText, anyUnitsText, { maxKeys: 2 }),
)
