/**
 * A JSON number as `JSON.stringify(JSON.parse(token))` writes it, worked out from its digits:
 * `Number()` and `String()` cost a hundred nanoseconds a token, which a body of a million short
 * numbers would turn into a denial of service. Tokens whose value the digits alone cannot settle
 * (more than 15 significant digits, or near the edges of the double range) take that way still.
 */
import { digitsEnd, isDigit } from './characters.js'
import type { Cursor } from './cursor.js'

/** The token is written back as it is. */
export const AS_WRITTEN = ''
/** Its value is not finite (beyond the double range, such as 1e400). */
export const NOT_FINITE = 'not-finite'
/** Its value is beyond 2^53-1 in magnitude, where integers lose digits. */
export const UNSAFE = 'unsafe'

const MAX_SAFE = '9007199254740991'
const ZEROS = '000000000000000000000'
// Any decimal of up to 15 significant digits survives the trip to a double and back.
const EXACT_DIGITS = 15
// The exponent is capped while it is read: beyond this, only its sign matters.
const EXPONENT_CAP = 100_000

/**
 * Reads the JSON number at the cursor (moving past it, or failing on bad syntax) and tells how
 * it is written once parsed and stringified: AS_WRITTEN, the text to write instead, NOT_FINITE
 * or UNSAFE.
 */
export function canonicalNumber(cursor: Cursor): string {
  const text = cursor.text
  const start = cursor.at
  let at = start
  const negative = text.charCodeAt(at) === 0x2d
  if (negative) at++
  const intStart = at
  const lead = text.charCodeAt(at)
  at = lead === 0x30 ? at + 1 : lead > 0x30 && lead <= 0x39 ? digitsEnd(text, at) : cursor.failAt(at)
  const intEnd = at
  let fracStart = at
  let fracEnd = at
  if (text.charCodeAt(at) === 0x2e) {
    fracStart = ++at
    fracEnd = at = digitsEnd(text, at)
    if (fracEnd === fracStart) cursor.failAt(at)
  }
  const hasExponent = (text.charCodeAt(at) | 0x20) === 0x65
  cursor.at = at
  if (!hasExponent) {
    // The common case: an integer or a decimal already written as stringify writes it.
    const integerDigits = intEnd - intStart
    if (fracEnd === fracStart) {
      if (integerDigits <= EXACT_DIGITS && !(negative && lead === 0x30)) return AS_WRITTEN
    } else if (text.charCodeAt(fracEnd - 1) !== 0x30) {
      // Below 1, stringify writes up to five zeros after the point before it turns to 1e-7.
      const zeros = lead === 0x30 ? firstNonZero(text, fracStart, fracEnd, fracEnd, fracEnd) - fracStart : 0
      const significant = lead === 0x30 ? fracEnd - fracStart - zeros : integerDigits + fracEnd - fracStart
      if (zeros < 6 && significant <= EXACT_DIGITS) return AS_WRITTEN
    }
  }
  let exponent = 0
  if (hasExponent) {
    const sign = text.charCodeAt(++at)
    const negativeExponent = sign === 0x2d
    if (sign === 0x2b || negativeExponent) at++
    const digits = at
    for (; isDigit(text.charCodeAt(at)); at++) exponent = Math.min(exponent * 10 + text.charCodeAt(at) - 0x30, EXPONENT_CAP)
    if (at === digits) cursor.failAt(at)
    if (negativeExponent) exponent = -exponent
    cursor.at = at
  }
  const end = at

  // The significant digits run from the first non-zero digit to the last one, across the point.
  const first = firstNonZero(text, intStart, intEnd, fracStart, fracEnd)
  if (first < 0) return negative || fracEnd > fracStart || hasExponent ? '0' : AS_WRITTEN
  const last = lastNonZero(text, intStart, intEnd, fracStart, fracEnd)
  const digits = first < intEnd ? (last < intEnd ? last + 1 - first : intEnd - first + last + 1 - fracStart) : last + 1 - first
  // The value is 0.<digits> x 10^point.
  const point = (first < intEnd ? intEnd - first : fracStart - first) + exponent

  if (point > 309) return NOT_FINITE
  if (point > 16 && point < 309) return UNSAFE
  if (digits > EXACT_DIGITS || point === 309 || point < -300) return byValue(text.slice(start, end))
  // From 10^15 to 10^16 the value is an integer of 16 digits: compare them with 2^53-1's.
  if (point === 16 && beyondMaxSafe(text, first, intEnd, fracStart, last)) return UNSAFE
  const trimmed = fracEnd === fracStart || text.charCodeAt(fracEnd - 1) !== 0x30
  // Plain decimals, without exponent or trailing zero, within the range stringify writes plainly.
  if (!hasExponent && trimmed && point > -6) return AS_WRITTEN
  // Small numbers already in stringify's exponential form: one digit before the point, e-7 and below.
  if (hasExponent && point <= -6 && trimmed && intEnd - intStart === 1 && lead !== 0x30 && isCanonicalExponent(text, fracEnd, end))
    return AS_WRITTEN
  const significant =
    first < intEnd && last >= fracStart ? text.slice(first, intEnd) + text.slice(fracStart, last + 1) : text.slice(first, last + 1)
  const canonical = written(negative, significant, point)
  return canonical.length === end - start && text.startsWith(canonical, start) ? AS_WRITTEN : canonical
}

/** Whether the 16-digit integer whose significant digits run from `first` to `last` exceeds 2^53-1. */
function beyondMaxSafe(text: string, first: number, intEnd: number, fracStart: number, last: number): boolean {
  let at = first
  for (let i = 0; i < MAX_SAFE.length; i++) {
    if (at === intEnd) at = fracStart
    const digit = at <= last ? text.charCodeAt(at++) : 0x30
    const limit = MAX_SAFE.charCodeAt(i)
    if (digit !== limit) return digit > limit
  }
  return false
}

/** Whether the exponent from `at` (on its e) to `end` reads `e-<digits>`, without a leading zero. */
function isCanonicalExponent(text: string, at: number, end: number): boolean {
  return text.charCodeAt(at) === 0x65 && text.charCodeAt(at + 1) === 0x2d && text.charCodeAt(at + 2) !== 0x30 && at + 2 < end
}

function firstNonZero(text: string, intStart: number, intEnd: number, fracStart: number, fracEnd: number): number {
  for (let at = intStart; at < intEnd; at++) if (text.charCodeAt(at) !== 0x30) return at
  for (let at = fracStart; at < fracEnd; at++) if (text.charCodeAt(at) !== 0x30) return at
  return -1
}

function lastNonZero(text: string, intStart: number, intEnd: number, fracStart: number, fracEnd: number): number {
  for (let at = fracEnd - 1; at >= fracStart; at--) if (text.charCodeAt(at) !== 0x30) return at
  for (let at = intEnd - 1; at >= intStart; at--) if (text.charCodeAt(at) !== 0x30) return at
  return -1
}

/** Number::toString of 0.<significant> x 10^point (ECMA-262), given the shortest digits. */
function written(negative: boolean, significant: string, point: number): string {
  const sign = negative ? '-' : ''
  const count = significant.length
  if (count <= point && point <= 21) return sign + significant + ZEROS.slice(0, point - count)
  if (point > 0 && point <= 21) return `${sign}${significant.slice(0, point)}.${significant.slice(point)}`
  if (point > -6 && point <= 0) return `${sign}0.${ZEROS.slice(0, -point)}${significant}`
  const exponent = point - 1
  const mantissa = count > 1 ? `${significant[0]}.${significant.slice(1)}` : significant
  return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${Math.abs(exponent)}`
}

/** The slow way, for the tokens whose digits do not settle it. */
function byValue(token: string): string {
  const value = Number(token)
  if (!Number.isFinite(value)) return NOT_FINITE
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return UNSAFE
  const canonical = String(value)
  return canonical === token ? AS_WRITTEN : canonical
}
