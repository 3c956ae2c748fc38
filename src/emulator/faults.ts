import * as z from 'zod/mini'
import { firstViolation } from '../schemas.js'
import type { Faults } from './types.js'

/** The faults of a well-behaved upstream. */
export const NO_FAULTS: Faults = Object.freeze({
  latencyMs: 0,
  errorRate: 0,
  rateLimitStorm: false,
  retryAfterSeconds: null,
  hangRate: 0,
})

const nonNegative = z.gte(0, { error: 'must be at least 0' })

const share = z.optional(z.number({ error: 'must be a number from 0 to 1' }).check(nonNegative, z.lte(1, { error: 'must be at most 1' })))

// Strict, so a typo such as `errorrate` is refused instead of silently doing nothing.
const faultSettingsSchema = z.strictObject(
  {
    latencyMs: z.optional(z.number({ error: 'must be a number of milliseconds' }).check(nonNegative)),
    errorRate: share,
    rateLimitStorm: z.optional(z.union([z.boolean(), z.number()], { error: 'must be true, false or a time in epoch ms' })),
    retryAfterSeconds: z.optional(z.nullable(z.int({ error: 'must be a whole number of seconds or null' }).check(nonNegative))),
    hangRate: share,
    rejectTypes: z.optional(
      z.array(z.string({ error: 'must be a list of engagement types' }), { error: 'must be a list of engagement types' }),
    ),
  },
  { error: 'must be an object of fault settings' },
)

/** `current` with the settings in `input` applied, or a sentence naming the field that is wrong. */
export function applyFaultSettings(current: Faults, input: unknown): { faults: Faults } | { problem: string } {
  const violation = firstViolation(faultSettingsSchema, input, 'faults')
  if (violation) return { problem: violation.message }
  const settings = faultSettingsSchema.parse(input)
  const faults: Faults = {
    latencyMs: settings.latencyMs ?? current.latencyMs,
    errorRate: settings.errorRate ?? current.errorRate,
    rateLimitStorm: settings.rateLimitStorm ?? current.rateLimitStorm,
    // `null` is a value here (it turns the header off), so only a missing key keeps the current one.
    retryAfterSeconds: settings.retryAfterSeconds === undefined ? current.retryAfterSeconds : settings.retryAfterSeconds,
    hangRate: settings.hangRate ?? current.hangRate,
  }
  // Present only while some type is refused, so the faults of a healthy upstream keep their shape.
  const rejectTypes = settings.rejectTypes ?? current.rejectTypes
  if (rejectTypes && rejectTypes.length > 0) faults.rejectTypes = Object.freeze([...rejectTypes])
  return { faults: Object.freeze(faults) }
}

/** The first engagement of `batch` whose type the faults refuse, with its position. */
export function refusedEngagement(faults: Faults, batch: readonly { type: string }[]): { index: number; type: string } | undefined {
  const refused = faults.rejectTypes
  if (!refused || refused.length === 0) return undefined
  const index = batch.findIndex((engagement) => refused.includes(engagement.type))
  return index < 0 ? undefined : { index, type: (batch[index] as { type: string }).type }
}

/** Whether a rate-limit storm is raging at `now`. */
export function isStorming(faults: Faults, now: number): boolean {
  const storm = faults.rateLimitStorm
  return typeof storm === 'number' ? now < storm : storm
}

/**
 * Whether a fault with this share strikes. `random` is not called for a share of 0, so a
 * scripted `random` in a test is consumed only by the faults that are on.
 */
export function strikes(share: number, random: () => number): boolean {
  return share > 0 && random() < share
}
