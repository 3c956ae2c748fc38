/**
 * What a backend hands `track()`, checked with the shared contract (the zod schemas) and turned
 * into the parcel the Coalescer holds: `id` (a UUID unless given) and `createdAt` fixed at call
 * time, the JSON written as the proxy writes it, the digest computed as the proxy computes it, so
 * an engagement sent by a browser and by a backend is the same engagement.
 */
import type { Engagement, EngagementData } from '../contract.js'
import type { Parcel } from '../core/coalescer/index.js'
import { toParcel } from '../core/parcel.js'
import { digestOf, type Sha256Hex } from '../proxy/fingerprint.js'
import { engagementJson } from '../proxy/intake/index.js'
import { engagementSchema, firstViolation } from '../schemas.js'

/** What `track()` takes: an engagement, with `id` and `createdAt` optional. */
export interface ServerTrackInput {
  contactEmail: string
  type: string
  name?: string
  description?: string
  data?: EngagementData
  /** Unique id, used to count the engagement once however often it is sent. Default: a random UUID. */
  id?: string
  /** When it happened: a `Date`, epoch ms or an ISO 8601 string. Default: the time of the call. */
  createdAt?: Date | number | string
}

/** An input refused by the contract: which field, which rule, and a sentence that says both. */
export interface InputProblem {
  id: string
  reason: string
  field: string
  rule: string
}

/** What the client needs to prepare an engagement. */
export interface PrepareTools {
  now: () => number
  randomUUID: () => string
  sha256: Sha256Hex
}

/** `createdAt` as ISO 8601 UTC when it is a date, epoch ms or an ISO string with an offset; else as given (the contract refuses it). */
function isoOf(value: unknown): unknown {
  if (value instanceof Date || typeof value === 'number') {
    const date = new Date(value)
    return Number.isNaN(date.getTime()) ? 'an invalid date' : date.toISOString()
  }
  if (typeof value === 'string' && /T.*[+-]\d\d:\d\d$/.test(value)) {
    const date = new Date(value)
    return Number.isNaN(date.getTime()) ? value : date.toISOString()
  }
  return value
}

/** The engagement to send, or why it cannot be sent. Never throws. */
export async function prepare(input: unknown, tools: PrepareTools): Promise<{ parcel: Parcel } | { problem: InputProblem }> {
  const given = (input ?? {}) as Record<string, unknown>
  const id = typeof given.id === 'string' ? given.id : tools.randomUUID()
  const draft: Record<string, unknown> =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? { ...given, id, createdAt: isoOf(given.createdAt ?? tools.now()) }
      : (input as Record<string, unknown>)
  for (const key of Object.keys(draft ?? {})) if (draft[key] === undefined) delete draft[key]
  const violation = firstViolation(engagementSchema, draft)
  if (violation) return { problem: { id, reason: violation.message, field: violation.field, rule: violation.rule } }
  const engagement = draft as unknown as Engagement
  const fields = {
    id: engagement.id,
    contactEmail: engagement.contactEmail,
    type: engagement.type,
    createdAt: engagement.createdAt,
    ...(engagement.name === undefined ? {} : { name: engagement.name }),
    ...(engagement.description === undefined ? {} : { description: engagement.description }),
  }
  const json = engagementJson(fields, engagement.data === undefined ? undefined : JSON.stringify(engagement.data))
  return { parcel: toParcel(engagement.id, await digestOf(tools.sha256, engagement.id, json), json) }
}
