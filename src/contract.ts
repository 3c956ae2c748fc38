/**
 * The wire contract shared by the tracker, the proxy and the emulator: the limits, the shape
 * of an engagement, and the bodies that travel between browser, proxy and Conversion.
 * Runtime-neutral: no DOM, no Node, nothing runs at import beyond building the schemas.
 */
import * as z from 'zod/mini'
import { findJsonProblem, utf8Length } from './core/json.js'

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

type ErrorFunction = (issue: { input?: unknown }) => string
const expected = /* @__NO_SIDE_EFFECTS__ */ (what: string): ErrorFunction => (issue) =>
  issue.input === undefined ? 'is required' : `must be ${what}`

/**
 * A check that reports `message` under the rule `name` unless `test` passes. Every rule is
 * written this way, as plain code inside one kind of zod check: it keeps zod's share of the
 * browser bundle small.
 */
const rule = /* @__NO_SIDE_EFFECTS__ */ <T>(name: string, test: (value: T) => boolean, message: string) =>
  z.check<T>((payload) => {
    if (!test(payload.value)) payload.issues.push({ code: 'custom', input: payload.value, message, params: { rule: name } })
  })

const atMost = /* @__NO_SIDE_EFFECTS__ */ (max: number, unit = 'characters') =>
  rule<{ length: number }>('max', (value) => value.length <= max, `must be at most ${max} ${unit}`)

const text = /* @__NO_SIDE_EFFECTS__ */ (max: number, min = 0) =>
  z.string({ error: expected('a string') }).check(
    rule<string>('min', (value) => value.length >= min, 'must not be empty'),
    atMost(max),
  )

const matching = /* @__NO_SIDE_EFFECTS__ */ (pattern: RegExp, message: string) =>
  rule<string>('format', (value) => pattern.test(value), message)

/** A contact's email address, as Conversion identifies contacts. */
export const emailSchema = /* @__PURE__ */ (() =>
  z.string({ error: expected('a string') }).check(
    atMost(LIMITS.emailLength),
    matching(EMAIL_PATTERN, 'must be an email address such as john@example.com'),
  ))()

const engagementFields = /* @__PURE__ */ (() => ({
  id: z.string({ error: expected('a string') }).check(
    atMost(LIMITS.idLength),
    matching(ID_PATTERN, "must be letters, digits, '_', '.', ':' or '-'"),
  ),
  type: text(LIMITS.typeLength, 1),
  name: z.optional(text(LIMITS.nameLength)),
  description: z.optional(text(LIMITS.descriptionLength)),
  createdAt: z.string({ error: expected('an ISO 8601 UTC date-time string') }).check(
    matching(DATE_TIME_PATTERN, 'must be an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z'),
    rule('format', isRealDate, 'must be a real calendar date and time'),
  ),
  data: z.optional(
    z.custom<EngagementData>().check(
      z.check((payload) => {
        const problem = findJsonProblem(payload.value, LIMITS.dataDepth)
        const bytes = problem ? 0 : utf8Length(JSON.stringify(payload.value))
        if (problem || bytes > LIMITS.dataBytes) {
          payload.issues.push({
            code: 'custom',
            input: payload.value,
            path: problem?.path ?? [],
            message: problem?.message ?? `must be at most ${LIMITS.dataBytes} bytes as JSON (it is ${bytes})`,
            params: { rule: problem ? 'json' : 'max' },
          })
        }
      }),
    ),
  ),
}))()

const objectError = expected('an object')

/**
 * One engagement as the proxy forwards it to Conversion: `id` and `createdAt` always set.
 * Unknown fields are refused, so a typo such as `createAt` is reported instead of lost.
 */
export const engagementSchema = /* @__PURE__ */ (() =>
  z.strictObject({ ...engagementFields, contactEmail: emailSchema }, { error: objectError }))()

/** An engagement whose contact is not known yet (tracked before `identify()`). */
export const draftEngagementSchema = /* @__PURE__ */ (() =>
  z.strictObject({ ...engagementFields, contactEmail: z.optional(emailSchema) }, { error: objectError }))()

/** An engagement as Conversion receives it. */
export type Engagement = z.output<typeof engagementSchema>

/** An engagement that may still wait for its contact. */
export type DraftEngagement = z.output<typeof draftEngagementSchema>

const nonEmpty = /* @__PURE__ */ rule<unknown[]>('min', (items) => items.length > 0, 'must hold at least one engagement')

/**
 * What the tracker sends to the proxy. Items are checked one by one (see `engagementSchema`) so
 * one bad engagement never fails the others; `identity` maps a contact email to the signature
 * the customer's backend made for it.
 */
export const clientRequestSchema = /* @__PURE__ */ (() =>
  z.object(
    {
      batch: z.array(z.unknown()).check(nonEmpty, atMost(LIMITS.batchSize, 'engagements')),
      identity: z.optional(
        z.record(z.string(), text(LIMITS.signatureLength, 1), { error: expected('an object of email: signature') }),
      ),
    },
    { error: expected('an object with a "batch" array') },
  ))()

/** The body the tracker sends to the proxy. */
export interface ClientRequest {
  batch: Engagement[]
  identity?: Record<string, string>
}

/** The body Conversion accepts on `POST /v1/activities/batch`. */
export const upstreamRequestSchema = /* @__PURE__ */ (() =>
  z.object(
    {
      batch: z.array(engagementSchema).check(nonEmpty, atMost(LIMITS.batchSize, 'engagements')),
    },
    { error: expected('an object with a "batch" array') },
  ))()

/**
 * The proxy's 200 answer: the request is settled. Every engagement not listed in `rejected`
 * was accepted now (`accepted`) or earlier (`duplicates`). Rejections are permanent.
 */
export interface Settlement {
  accepted: number
  duplicates: number
  rejected: { id: string; reason: string }[]
}

/** Whether `value` is a {@link Settlement}. Plain code: the browser bundle stays small. */
export function isSettlement(value: unknown): value is Settlement {
  const candidate = value as Settlement | null
  const isCount = (n: unknown) => Number.isInteger(n) && (n as number) >= 0
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    isCount(candidate.accepted) &&
    isCount(candidate.duplicates) &&
    Array.isArray(candidate.rejected) &&
    candidate.rejected.every((item) => typeof item?.id === 'string' && typeof item.reason === 'string')
  )
}

/** The body of every error response, from Conversion and from the proxy. */
export interface ErrorBody {
  message: string
}

/** A broken rule: which field, which rule, and a sentence that says both. */
export interface RuleViolation {
  /** Path of the offending field, such as `contactEmail` or `data.items[2]`. */
  field: string
  /** The rule's short name: `required`, `type`, `min`, `max`, `format`, `unknown-field` or `json`. */
  rule: string
  /** A sentence for people, such as `contactEmail must be an email address such as john@example.com`. */
  message: string
}

/** The first rule `input` breaks, or undefined when it satisfies `schema`. */
export function firstViolation(schema: z.ZodMiniType, input: unknown, subject = 'engagement'): RuleViolation | undefined {
  const result = schema.safeParse(input)
  const issue = result.error?.issues[0]
  if (!issue) return undefined
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : undefined
  const field = formatPath(keys ? [...issue.path, keys[0] as string] : issue.path) || subject
  return { field, rule: ruleOf(issue), message: `${field} ${keys ? 'is not a known field' : issue.message}` }
}

function ruleOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return issue.message === 'is required' ? 'required' : 'type'
  if (issue.code === 'unrecognized_keys') return 'unknown-field'
  return (issue.code === 'custom' && (issue.params?.['rule'] as string | undefined)) || 'format'
}

/** `['data', 'items', 2]` -> `data.items[2]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`
  }
  return out
}

/**
 * Whether the calendar parts of an ISO 8601 date-time exist (no February 30, no hour 24).
 * `Date.parse` alone would roll 2025-02-30 over into March.
 */
export function isRealDate(value: string): boolean {
  const parts = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(value)
  if (!parts) return false
  const [year, month, day, hour, minute, second = 0] = parts.slice(1).map(Number) as number[]
  const date = new Date(Date.UTC(year as number, (month as number) - 1, day, hour, minute, second))
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === (month as number) - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  )
}
