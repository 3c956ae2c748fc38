/**
 * JSON texts for the intake's tests: values written with every spelling JSON allows (escapes,
 * exponents, whitespace), objects whose keys can repeat, and mutations of valid texts. Choices
 * come from a tape of numbers fast-check draws, so a failing case shrinks and replays.
 */
import fc from 'fast-check'

/** Where a text's spelling choices come from: cycles over the numbers drawn. */
export class Tape {
  private at = 0
  constructor(private readonly numbers: readonly number[]) {}

  /** A choice among `count` options. */
  pick(count: number): number {
    if (this.numbers.length === 0) return 0
    return (this.numbers[this.at++ % this.numbers.length] as number) % count
  }
}

export const tape = fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 64 }).map((numbers) => new Tape(numbers))

const SPACES = ['', '', '', ' ', '\n', '\t', '\r\n  ']

export function space(choices: Tape): string {
  return SPACES[choices.pick(SPACES.length)] as string
}

const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** `value` as a JSON string literal, each UTF-16 unit spelled one of the ways JSON allows. */
export function spellString(value: string, choices: Tape): string {
  let out = '"'
  for (let i = 0; i < value.length; i++) {
    const char = value[i] as string
    const code = value.charCodeAt(i)
    const hex = code.toString(16).padStart(4, '0')
    const mustEscape = code < 0x20 || char === '"' || char === '\\'
    switch (choices.pick(mustEscape ? 3 : 5)) {
      case 0:
        out += `\\u${hex}`
        break
      case 1:
        out += `\\u${hex.toUpperCase()}`
        break
      case 2:
        out += SHORT[char] ?? `\\u${hex}`
        break
      case 3:
        out += char === '/' ? '\\/' : char
        break
      default:
        out += char
    }
  }
  return `${out}"`
}

/** A finite number spelled one of the ways that parse back to it. */
export function spellNumber(value: number, choices: Tape): string {
  const plain = JSON.stringify(value)
  const spellings = [plain, value.toExponential(), value.toPrecision(17), plain.replace('e', 'E'), plain]
  if (Number.isInteger(value) && !plain.includes('e')) spellings.push(`${plain}.0`, `${plain}e0`, `${plain}.000e+0`)
  if (Number.isInteger(value) && value !== 0 && !plain.includes('e')) spellings.push(`${plain}00E-2`)
  const chosen = spellings[choices.pick(spellings.length)] as string
  // toPrecision can write a leading "+" exponent or trailing zeros, both JSON; never "Infinity".
  return Number(chosen) === value || (value === 0 && Number(chosen) === 0) ? chosen : plain
}

/** A JSON text to write as it is, for numbers no JavaScript value stands for (such as 1e400). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Any JSON value (as JSON.parse makes them, or RawJson) spelled with the tape's choices. */
export function spell(value: unknown, choices: Tape): string {
  const around = (text: string) => space(choices) + text + space(choices)
  if (value instanceof RawJson) return around(value.text)
  if (value === null || typeof value === 'boolean') return around(String(value))
  if (typeof value === 'number') return around(spellNumber(value, choices))
  if (typeof value === 'string') return around(spellString(value, choices))
  if (Array.isArray(value)) return around(`[${value.length === 0 ? space(choices) : value.map((item) => spell(item, choices)).join(',')}]`)
  const entries = Object.entries(value as Record<string, unknown>)
  return around(
    `{${entries.length === 0 ? space(choices) : entries.map(([key, item]) => `${around(spellString(key, choices))}:${spell(item, choices)}`).join(',')}}`,
  )
}

/** An object's text from members written as given: keys may repeat, values are texts already. */
export function objectText(members: readonly (readonly [string, string])[]): string {
  return `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`
}

/** Edits of a text: most break it, some keep it JSON. */
export const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.constantFrom(',', '}', ']', '"', '\\', ' ', '0', '-', 'e', '.', '[', '{', ':', 'null', '\u0000', '\u2028', '\ud800'),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
)

export function mutate(text: string, edit: typeof mutation extends fc.Arbitrary<infer T> ? T : never): string {
  const at = text.length === 0 ? 0 : edit.at % (text.length + 1)
  switch (edit.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + edit.length)
    case 'insert':
      return text.slice(0, at) + edit.text + text.slice(at)
    case 'truncate':
      return text.slice(0, at)
  }
}

/** `JSON.parse`, or undefined when it throws. */
export function parsed(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}
