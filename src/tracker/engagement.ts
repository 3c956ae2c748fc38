import { checkEngagement, isRealDate, type DraftEngagement } from '../contract.js'
import { invalid, type TrackerError, type TrackInput } from './types.js'

/** The contact engagements are attributed to, as `identify()` gave it. */
export interface Contact {
  email: string
  signature?: string
}

/** ISO 8601 with an offset, which the tracker turns into UTC. */
const ISO_WITH_ZONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/

/**
 * Turns what the page passed to `track()` into the engagement that will travel: id and
 * `createdAt` fixed now (they never change on retries), the contact filled in, every rule of
 * the contract checked. Unknown fields are kept so the contract can name them.
 */
export function buildEngagement(
  input: TrackInput,
  contact: Contact | undefined,
  now: number,
  randomUUID: () => string,
): { engagement: DraftEngagement; signature: string | undefined } | { error: TrackerError } {
  // Anything but a plain object goes to the contract as it is, which names what is wrong with it.
  let draft: Record<string, unknown> = input as never
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    draft = {
      ...input,
      id: input.id ?? randomUUID(),
      createdAt: toIsoDate(input.createdAt ?? now),
      contactEmail: input.contactEmail ?? contact?.email,
    }
    for (const key of Object.keys(draft)) if (draft[key] === undefined) delete draft[key]
  }
  const violation = checkEngagement(draft, true)
  if (violation) return { error: invalid(violation.field, violation.rule, violation.message) }
  const engagement = draft as DraftEngagement
  const signature = contact && engagement.contactEmail === contact.email ? contact.signature : undefined
  return { engagement, signature }
}

/** Dates, epoch ms and ISO strings with any offset become ISO 8601 UTC; anything else is left for the contract to refuse. */
function toIsoDate(value: unknown): unknown {
  if (
    value instanceof Date ||
    typeof value === 'number' ||
    (typeof value === 'string' && ISO_WITH_ZONE.test(value) && isRealDate(value))
  ) {
    const date = new Date(value)
    // An invalid date becomes "Invalid Date", which the contract refuses by format.
    return Number.isNaN(date.getTime()) ? String(date) : date.toISOString()
  }
  return value
}
