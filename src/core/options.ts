/**
 * One family of option checks for every public entry. Each entry normalizes its options once, at
 * its boundary, into one resolved type; nothing downstream writes a default again. The policy for
 * an invalid value is the entry's: servers throw (see {@link optionReader}); the browser tracker,
 * which never throws into the page, reports the problem and uses the default.
 */

/** The range a number option accepts. */
export interface NumberRule {
  min: number
  max?: number
  /** Whole numbers only. */
  integer?: boolean
}

/** Why `value` does not keep `rule`, as a phrase ("a whole number from 1 to 10"), or undefined when it does. */
export function numberProblem(value: unknown, rule: NumberRule): string | undefined {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= rule.min &&
    value <= (rule.max ?? Infinity) &&
    (!rule.integer || Number.isInteger(value))
  return ok ? undefined : describeRule(rule)
}

/** "a whole number from 1 to 10", "a number of at least 0", ... */
export function describeRule({ min, max, integer }: NumberRule): string {
  const kind = integer ? 'a whole number' : 'a number'
  return max === undefined || max === Infinity ? `${kind} of at least ${min}` : `${kind} from ${min} to ${max}`
}

/** The value as an option message quotes it: short, and never more than 40 characters of it. */
export function quoteValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' ? String(value) : typeof value
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/** Reads the options of one server-side entry, throwing a TypeError that names the option, the value and the rule. */
export interface OptionReader {
  /** `value`, or `fallback` when it is undefined. */
  number(name: string, value: number | undefined, fallback: number, rule: NumberRule): number
  /** A failure about option `name`; `value` is quoted when given (never give a secret's). */
  fail(name: string, rule: string, value?: unknown): never
}

/**
 * The reader of one entry's options; `subject` starts every message, such as
 * `conversion-engagements proxy`.
 * @example
 * const read = optionReader('conversion-engagements proxy')
 * read.number('settleTimeout', options.settleTimeout, 8_000, { min: 1 })
 */
export function optionReader(subject: string): OptionReader {
  const fail = (name: string, rule: string, value?: unknown): never => {
    const got = value === undefined ? '' : ` (got ${quoteValue(value)})`
    throw new TypeError(`${subject}: \`${name}\` must be ${rule}${got}`)
  }
  return {
    number(name, value, fallback, rule) {
      if (value === undefined) return fallback
      const problem = numberProblem(value, rule)
      return problem ? fail(name, problem, value) : value
    },
    fail,
  }
}
