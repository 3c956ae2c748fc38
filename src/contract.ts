/**
 * The wire contract shared by the tracker, the proxy and the emulator: the limits, the rules of
 * an engagement, and the bodies that travel between browser, proxy and Conversion. Plain code:
 * the browser checks engagements with it directly, and `schemas.ts` builds the zod/mini schemas
 * that servers use from the same rule table. Runtime-neutral, nothing runs at import.
 */
import { isRealDate } from './core/date.js'
import { findJsonProblem, utf8Length } from './core/json.js'
import { CONTROL, CONTROL_IN_TEXT, HIDDEN_IN_EMAIL, refusedCharacter } from './core/text.js'

export { canonicalEmail } from './core/text.js'
export { isRealDate } from './core/date.js'
export { isSettlement, type ErrorBody, type Rejection, type Settlement } from './core/settlement.js'

/** Documented limits. Conversion's own are the first two; the rest are this package's caps. */
export const LIMITS = {
  /** Engagements in one request, to the proxy and upstream (Conversion's limit). */
  batchSize: 200,
  /** Request starts in any sliding second (Conversion's limit, per API key). */
  requestsPerSecond: 10,
  /** Largest request body the proxy accepts by default, in bytes. */
  requestBytes: 1_048_576,
  /** Largest serialized `data` object, in bytes. */
  dataBytes: 16_384,
  /** Deepest nesting inside `data`. */
  dataDepth: 10,
  /**
   * Largest beacon body, in bytes (browsers allow 64 KiB of keepalive data in flight). The
   * field caps below keep one engagement well under it, so one always fits.
   */
  beaconBytes: 60_000,
  idLength: 128,
  emailLength: 254,
  typeLength: 100,
  nameLength: 256,
  descriptionLength: 4_096,
  signatureLength: 128,
} as const

/** A JSON value as allowed in `data`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** Key/value metadata of an engagement: a plain object of JSON values. */
export type EngagementData = { [key: string]: JsonValue }

const ID_PATTERN = /^[\w.:-]+$/
// Pragmatic, not RFC 5322: one @, no spaces, a dot in the domain.
const EMAIL_PATTERN = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/
const DATE_TIME_PATTERN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/

/** What is wrong with a value: the rule's name, a message, and where inside the value. */
export interface Problem {
  rule: string
  message: string
  path?: (string | number)[]
}

/** One rule: undefined when `value` keeps it, else the problem. */
export type Check = (value: never) => Problem | undefined

export const atMost =
  (max: number, unit = 'characters'): Check =>
  (value: { length: number }) =>
    value.length > max ? { rule: 'max', message: `must be at most ${max} ${unit}` } : undefined

export const notEmpty: Check = (value: { length: number }) =>
  value.length === 0 ? { rule: 'min', message: 'must not be empty' } : undefined

const matching =
  (pattern: RegExp, message: string): Check =>
  (value: string) =>
    pattern.test(value) ? undefined : { rule: 'format', message }

const without =
  (pattern: RegExp): Check =>
  (value: string) => {
    const message = refusedCharacter(value, pattern)
    return message ? { rule: 'characters', message } : undefined
  }

const realDate: Check = (value: string) =>
  isRealDate(value) ? undefined : { rule: 'format', message: 'must be a real calendar date and time' }

// Checked after the format, so plain string order is time order.
const inRange: Check = (value: string) =>
  value < '1970' || value >= '2100' ? { rule: 'range', message: 'must be in the years 1970 to 2099' } : undefined

const jsonData: Check = (value: unknown) => {
  const problem = findJsonProblem(value, LIMITS.dataDepth)
  if (problem) return { rule: 'json', ...problem }
  return utf8Length(JSON.stringify(value)) > LIMITS.dataBytes
    ? { rule: 'max', message: `must be at most ${LIMITS.dataBytes} bytes as JSON` }
    : undefined
}

/** The rules of one field of an engagement. */
export interface FieldRules {
  /** Absent is fine (for the contact: until `identify()`, in the browser). */
  optional?: true
  /** What the value must be, for the message when it is not; every field but `data` is a string. */
  expected: string
  checks: Check[]
}

export const STRING = 'a string'

/**
 * Every rule of an engagement, in one place. The browser checks them with
 * {@link checkEngagement}: plain code, because zod/mini would add 4.6 kB gzipped to a 10 kB
 * script tag. Servers get the same rules as zod/mini schemas built from this table
 * (`engagementSchema` in schemas.ts), and a property test holds the two to the same verdicts.
 */
export const ENGAGEMENT_FIELDS = {
  id: { expected: STRING, checks: [atMost(LIMITS.idLength), matching(ID_PATTERN, "must be letters, digits, '_', '.', ':' or '-'")] },
  type: { expected: STRING, checks: [notEmpty, atMost(LIMITS.typeLength), without(CONTROL)] },
  name: { optional: true, expected: STRING, checks: [atMost(LIMITS.nameLength), without(CONTROL)] },
  description: { optional: true, expected: STRING, checks: [atMost(LIMITS.descriptionLength), without(CONTROL_IN_TEXT)] },
  createdAt: {
    expected: 'an ISO 8601 UTC date-time string',
    checks: [matching(DATE_TIME_PATTERN, 'must be an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z'), realDate, inRange],
  },
  data: { optional: true, expected: 'a plain object of JSON values', checks: [jsonData] },
  contactEmail: {
    expected: STRING,
    checks: [
      atMost(LIMITS.emailLength),
      without(HIDDEN_IN_EMAIL),
      matching(EMAIL_PATTERN, 'must be an email address such as john@example.com'),
    ],
  },
} satisfies Record<string, FieldRules>

export type FieldName = keyof typeof ENGAGEMENT_FIELDS

/** One engagement as Conversion receives it: `id` and `createdAt` always set. */
export interface Engagement {
  id: string
  contactEmail: string
  type: string
  name?: string
  description?: string
  /** ISO 8601 UTC, such as `2025-08-12T09:21:45Z`. */
  createdAt: string
  data?: EngagementData
}

/** An engagement that may still wait for its contact (tracked before `identify()`). */
export type DraftEngagement = Omit<Engagement, 'contactEmail'> & { contactEmail?: string }

/** A broken rule at `path` (`['data', 'items', 2]`; empty for the engagement itself), its message led by the field. */
export const ruleViolation = (path: (string | number)[], rule: string, message: string): RuleViolation => {
  const field = formatPath(path) || 'engagement'
  return { field, rule, message: `${field} ${message}` }
}

/** One field's rules applied to its value, as {@link checkEngagement} applies them (`optional`: absent is fine). */
export function checkField(name: FieldName, value: unknown, optional: boolean): RuleViolation | undefined {
  const rules: FieldRules = ENGAGEMENT_FIELDS[name]
  if (value === undefined) return optional ? undefined : ruleViolation([name], 'required', 'is required')
  if (name !== 'data' && typeof value !== 'string') return ruleViolation([name], 'type', `must be ${rules.expected}`)
  for (const check of rules.checks) {
    const problem = check(value as never)
    if (problem) return ruleViolation([name, ...(problem.path ?? [])], problem.rule, problem.message)
  }
  return undefined
}

/**
 * The first rule `value` breaks as an engagement, or undefined. Unknown fields are refused, so
 * a typo such as `createAt` is reported instead of lost. `contactOptional` lets a draft wait for
 * its contact.
 */
export function checkEngagement(value: unknown, contactOptional = false): RuleViolation | undefined {
  if (value === undefined) return ruleViolation([], 'required', 'is required')
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ruleViolation([], 'type', 'must be an object')
  const record = value as Record<string, unknown>
  const names = Object.keys(ENGAGEMENT_FIELDS) as FieldName[]
  for (const name of names) {
    const optional = 'optional' in ENGAGEMENT_FIELDS[name] || (contactOptional && name === 'contactEmail')
    const found = checkField(name, record[name], optional)
    if (found) return found
  }
  // Not `key in ENGAGEMENT_FIELDS`: that also finds `constructor`, `toString` or `__proto__` on the prototype.
  const unknown = Object.keys(record).find((key) => !names.includes(key as FieldName))
  return unknown === undefined ? undefined : ruleViolation([unknown], 'unknown-field', 'is not a known field')
}

/** Whether `value` is an email address Conversion can identify a contact by. */
export function checkEmail(value: unknown, field = 'email'): RuleViolation | undefined {
  const found = checkField('contactEmail', value, false)
  return found && { ...found, field, message: found.message.replace('contactEmail', field) }
}

/** The body the tracker sends to the proxy: the engagements, and `identity` mapping a contact's email to its signature (`signIdentity`). */
export interface ClientRequest {
  batch: Engagement[]
  identity?: Record<string, string>
}

/** What a client request must be, in the words of both readers of one: `clientRequestSchema` and `proxy/intake`. */
export const CLIENT_REQUEST_SHAPE = {
  body: 'an object with a "batch" array',
  batch: 'an array of engagements',
  emptyBatch: 'must hold at least one engagement',
  identity: 'an object of email: signature',
} as const

/** A broken rule: which field, which rule, and a sentence that says both. */
export interface RuleViolation {
  /** Path of the offending field, such as `contactEmail` or `data.items[2]`. */
  field: string
  /** The rule's short name: `required`, `type`, `min`, `max`, `format`, `characters`, `range`, `unknown-field` or `json`. */
  rule: string
  /** A sentence for people, such as `contactEmail must be an email address such as john@example.com`. */
  message: string
}

/** `['data', 'items', 2]` -> `data.items[2]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`
  }
  return out
}
