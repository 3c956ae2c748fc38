import { formatPath, isRealDate, LIMITS, type DraftEngagement } from '../contract.js'
import { findJsonProblem } from '../core/json.js'
import { CONTROL, CONTROL_IN_TEXT, HIDDEN_IN_EMAIL, refusedCharacter } from '../core/text.js'
import { byteLength } from './request.js'
import { invalid, type TrackerError, type TrackInput } from './types.js'

/** The contact engagements are attributed to, as `identify()` gave it. */
export interface Contact {
  email: string
  /** Absent, or undefined, without one. */
  signature?: string | undefined
}

/**
 * The contract's rules of each string field, as the browser checks them (the proxy checks them
 * all again): whether it may be absent, its most characters, the characters it refuses, and
 * the format it must have, said as what it must be. They are checked in this order, as the
 * contract does (`checkEngagement`), so both name the same field and rule for any input; a
 * property test holds them to it.
 */
const FIELDS: Record<string, [optional: boolean, max: number, refused?: RegExp | undefined, format?: RegExp, expected?: string]> = {
  id: [false, LIMITS.idLength, undefined, /^[\w.:-]+$/, "letters, digits, '_', '.', ':' or '-'"],
  type: [false, LIMITS.typeLength, CONTROL],
  name: [true, LIMITS.nameLength, CONTROL],
  description: [true, LIMITS.descriptionLength, CONTROL_IN_TEXT],
  createdAt: [
    false,
    Infinity,
    undefined,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/,
    'an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z',
  ],
  data: [true, 0],
  contactEmail: [true, LIMITS.emailLength, HIDDEN_IN_EMAIL, /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/, 'an email address such as john@example.com'],
}
const NAMES = Object.keys(FIELDS)

/** ISO 8601 with an offset, which the tracker turns into UTC. */
const ISO_WITH_ZONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/

/**
 * The last date-time made from a Date or epoch ms, and the time it was made from. A burst
 * tracks many engagements in one millisecond: made once, and never read back (what
 * `toISOString` writes is a real calendar date).
 */
let madeFrom: number | undefined
let made = ''

/** The first rule `value` breaks as field `name` (an absent value counts as given: see `FIELDS`), or undefined. */
function checkField(name: string, value: unknown, field = name): TrackerError | undefined {
  const [optional, max, refused, format, expected] = FIELDS[name]!
  if (value === undefined) return optional ? undefined : invalid(field, 'required', 'is required')
  if (name === 'data') {
    const problem = findJsonProblem(value, LIMITS.dataDepth)
    if (problem) return invalid(formatPath([field, ...problem.path]), 'json', problem.message)
    return byteLength(JSON.stringify(value)) > LIMITS.dataBytes
      ? invalid(field, 'max', `must be at most ${LIMITS.dataBytes} bytes as JSON`)
      : undefined
  }
  if (typeof value !== 'string') {
    return invalid(field, 'type', name === 'createdAt' ? 'must be a Date, epoch ms or an ISO 8601 string' : 'must be a string')
  }
  if (!value && name === 'type') return invalid(field, 'min', 'must not be empty')
  if (value.length > max) return invalid(field, 'max', `must be at most ${max} characters`)
  const character = refused && refusedCharacter(value, refused)
  if (character) return invalid(field, 'characters', character)
  if (format && !format.test(value)) return invalid(field, 'format', `must be ${expected}`)
  if (format && name === 'createdAt') {
    if (value !== made && !isRealDate(value)) return invalid(field, 'format', 'must be a real calendar date and time')
    // Plain string order is time order, once the format is right.
    if (value < '1970' || value >= '2100') return invalid(field, 'range', 'must be in the years 1970 to 2099')
  }
  return undefined
}

/** Why `email` cannot name a contact, as `identify()` says it, or undefined. */
export const checkEmail = (email: unknown): TrackerError | undefined =>
  email === undefined ? invalid('email', 'required', 'is required') : checkField('contactEmail', email, 'email')

/**
 * Turns what the page passed to `track()` into the engagement that will travel: id and
 * `createdAt` fixed now (they never change on retries), the contact filled in, every rule of
 * the contract checked; or the first rule it breaks. Only the input's own fields are read; one
 * the contract does not know is refused by name, after the known ones are checked.
 */
export function buildEngagement(
  input: TrackInput,
  contact: Contact | undefined,
  now: number,
  randomUUID: () => string,
): { engagement: DraftEngagement; signature: string | undefined } | TrackerError {
  if (input === undefined) return invalid('engagement', 'required', 'is required')
  if (typeof input !== 'object' || !input || Array.isArray(input)) return invalid('engagement', 'type', 'must be an object')
  const draft: Record<string, unknown> = {}
  let unknown: string | undefined
  for (const key of Object.keys(input)) {
    const value = (input as unknown as Record<string, unknown>)[key]
    // Undefined is absent, as JSON has it.
    if (value === undefined) continue
    if (NAMES.includes(key)) draft[key] = value
    else unknown ??= key
  }
  draft.id ??= randomUUID()
  draft.createdAt = toIsoDate(draft.createdAt ?? now)
  draft.contactEmail ??= contact?.email
  for (const name of NAMES) {
    const error = checkField(name, draft[name])
    if (error) return error
  }
  // An empty key names no field: the engagement itself, as the contract says it.
  if (unknown !== undefined) return invalid(unknown || 'engagement', 'unknown-field', 'is not a known field')
  const engagement = draft as unknown as DraftEngagement
  return { engagement, signature: contact && engagement.contactEmail === contact.email ? contact.signature : undefined }
}

/** Dates, epoch ms and ISO strings with any offset become ISO 8601 UTC; anything else is left for the checks to refuse. */
function toIsoDate(value: unknown): unknown {
  if (value instanceof Date || typeof value === 'number' || (typeof value === 'string' && ISO_WITH_ZONE.test(value) && isRealDate(value))) {
    const time = +new Date(value)
    // An invalid date has no JSON form: it becomes "Invalid Date", which the format refuses.
    if (time !== madeFrom) made = new Date((madeFrom = time)).toJSON() ?? 'Invalid Date'
    return made
  }
  return value
}
