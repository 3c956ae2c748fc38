/**
 * The wire contract as zod/mini schemas, for servers: the proxy, the emulator, and your own
 * backend. Built from the rule table in contract.ts, so the browser (which checks with plain
 * code) and the servers apply the same rules and say the same things.
 */
import * as z from 'zod/mini'
import {
  atMost,
  CLIENT_REQUEST_SHAPE,
  ENGAGEMENT_FIELDS,
  formatPath,
  notEmpty,
  STRING,
  LIMITS,
  type Check,
  type DraftEngagement,
  type Engagement,
  type EngagementData,
  type FieldRules,
  type RuleViolation,
} from './contract.js'

type ErrorFunction = (issue: { input?: unknown }) => string
const expected =
  /* @__NO_SIDE_EFFECTS__ */
    (what: string): ErrorFunction =>
    (issue) =>
      issue.input === undefined ? 'is required' : `must be ${what}`

/** A zod check that runs one of the rules above. */
const zodCheck = /* @__NO_SIDE_EFFECTS__ */ (check: Check) =>
  z.check<unknown>((payload) => {
    const problem = check(payload.value as never)
    if (problem) {
      payload.issues.push({
        code: 'custom',
        input: payload.value,
        path: problem.path ?? [],
        message: problem.message,
        params: { rule: problem.rule },
      })
    }
  })

const zodField = /* @__NO_SIDE_EFFECTS__ */ (rules: FieldRules, optional = !!rules.optional) => {
  const base = rules === ENGAGEMENT_FIELDS.data ? z.custom<EngagementData>() : z.string({ error: expected(rules.expected) })
  const checked = base.check(...rules.checks.map(zodCheck))
  return optional ? z.optional(checked) : checked
}

const zodEngagement = /* @__NO_SIDE_EFFECTS__ */ (contactOptional: boolean) =>
  z.strictObject(
    Object.fromEntries(
      Object.entries(ENGAGEMENT_FIELDS).map(([name, rules]) => [
        name,
        zodField(rules, 'optional' in rules || (contactOptional && name === 'contactEmail')),
      ]),
    ),
    { error: expected('an object') },
  ) as unknown as z.ZodMiniType<Engagement>

/** {@link checkEngagement} as a zod/mini schema. */
export const engagementSchema = /* @__PURE__ */ zodEngagement(false)

/** A draft (contact not known yet) as a zod/mini schema. */
export const draftEngagementSchema = /* @__PURE__ */ zodEngagement(true) as unknown as z.ZodMiniType<DraftEngagement>

const text = /* @__NO_SIDE_EFFECTS__ */ (max: number) =>
  z.string({ error: expected(STRING) }).check(zodCheck(notEmpty), zodCheck(atMost(max)))

const nonEmpty = /* @__PURE__ */ zodCheck((items: unknown[]) =>
  items.length === 0 ? { rule: 'min', message: CLIENT_REQUEST_SHAPE.emptyBatch } : undefined,
)
const batchCap = /* @__PURE__ */ zodCheck(atMost(LIMITS.batchSize, 'engagements'))

/**
 * What the tracker sends to the proxy. Items are checked one by one (see `engagementSchema`) so
 * one bad engagement never fails the others; `identity` maps a contact email to the signature
 * the customer's backend made for it.
 */
export const clientRequestSchema = /* @__PURE__ */ (() =>
  z.object(
    {
      batch: z.array(z.unknown(), { error: expected(CLIENT_REQUEST_SHAPE.batch) }).check(nonEmpty, batchCap),
      identity: z.optional(z.record(z.string(), text(LIMITS.signatureLength), { error: expected(CLIENT_REQUEST_SHAPE.identity) })),
    },
    { error: expected(CLIENT_REQUEST_SHAPE.body) },
  ))()

/** The body Conversion accepts on `POST /v1/activities/batch` (the emulator refuses anything else). */
export const upstreamRequestSchema = /* @__PURE__ */ (() =>
  z.strictObject(
    {
      batch: z.array(engagementSchema, { error: expected(CLIENT_REQUEST_SHAPE.batch) }).check(nonEmpty, batchCap),
    },
    { error: expected(CLIENT_REQUEST_SHAPE.body) },
  ))()

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
  return (issue.code === 'custom' && (issue.params?.rule as string | undefined)) || 'format'
}
