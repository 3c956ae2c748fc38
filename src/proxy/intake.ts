/**
 * From a client request's body to parcels, cheapest checks first: the body is read in one linear
 * pass without building an object tree; identity signatures are verified (one HMAC per contact)
 * before any engagement's `data` is examined; only engagements that pass everything have their
 * data checked (linear in its bytes) and are digested. A forged signature therefore costs one
 * scan of the body and one HMAC, never the deep work.
 */
import type { Settlement } from '../contract.js'
import type { Parcel } from '../core/coalescer/index.js'
import { toParcel } from '../core/parcel.js'
import { digestOf, type Sha256Hex } from './fingerprint.js'
import { DataChecker, engagementJson, readClientRequest, type FieldChecks, type ReadItem } from './intake/index.js'

/** Whether `signature` vouches for `email` now. */
export type IdentityVerifier = (email: string, signature: unknown, now: number) => boolean | Promise<boolean>

/** A refusal, and where its item stood in the batch (refusals are reported in batch order). */
type Refused = { index: number; id: string; reason: string }

/** What the intake needs to know. */
export interface IntakeRules {
  allowedTypes: ReadonlySet<string> | undefined
  /** Checks identity signatures; undefined when they are not required. */
  verify: IdentityVerifier | undefined
  sha256: Sha256Hex
  now: number
  /** The fields' rules, with the values last checked (see `FieldChecks`); one per proxy. */
  checks: FieldChecks
}

/** A body sorted out: what goes on to the Coalescer, and what was refused (each with its reason). */
export type Intake = { ok: true; count: number; parcels: Parcel[]; rejected: Settlement['rejected'] } | { ok: false; message: string }

/** Reads, checks and digests the engagements of one client request body. */
export async function takeIn(text: string, rules: IntakeRules): Promise<Intake> {
  const read = readClientRequest(text, rules.checks)
  if (!read.ok) return read
  const rejected: Refused[] = []
  const refuse = (item: ReadItem, reason: string) => rejected.push({ index: item.index, id: item.reportId, reason })
  const passing: ReadItem[] = []
  for (const item of read.items) {
    if (item.violation) refuse(item, item.violation.message)
    else if (rules.allowedTypes && !rules.allowedTypes.has(item.fields.type)) {
      refuse(item, `type ${JSON.stringify(item.fields.type)} is not allowed by this proxy`)
    } else passing.push(item)
  }
  const signed = rules.verify ? await verified(passing, read.identity, rules.verify, rules.now, refuse) : passing
  const made: (Parcel | Promise<Parcel>)[] = []
  // Whether a digest answers later (WebCrypto's): only then is there anything to wait for.
  let later = false
  const dataChecker = new DataChecker(text)
  for (const item of signed) {
    const data = item.data && dataChecker.check(item.data.start, item.data.end)
    if (data && !data.ok) {
      refuse(item, data.violation.message)
      continue
    }
    const { id } = item.fields
    const json = engagementJson(item.fields, data ? data.json : undefined, item.plain)
    const digest = digestOf(rules.sha256, id, json)
    if (typeof digest === 'string') made.push(toParcel(id, digest, json))
    else {
      later = true
      made.push(digest.then((done) => toParcel(id, done, json)))
    }
  }
  const parcels = later ? await Promise.all(made) : (made as Parcel[])
  rejected.sort((a, b) => a.index - b.index)
  return { ok: true, count: read.items.length, parcels, rejected: rejected.map(({ id, reason }) => ({ id, reason })) }
}

/** The items whose contact has a valid signature in `identity`; the others are refused with a reason. */
async function verified(
  items: readonly ReadItem[],
  identity: ReadonlyMap<string, string>,
  verify: IdentityVerifier,
  now: number,
  refuse: (item: ReadItem, reason: string) => void,
): Promise<ReadItem[]> {
  const verdicts = new Map<string, boolean | Promise<boolean>>()
  for (const { fields } of items) {
    const email = fields.contactEmail
    if (!verdicts.has(email)) verdicts.set(email, verify(email, identity.get(email), now))
  }
  const valid = new Map<string, boolean>()
  for (const [email, verdict] of verdicts) valid.set(email, await verdict)
  return items.filter((item) => {
    const email = item.fields.contactEmail
    if (valid.get(email)) return true
    refuse(item, `contactEmail needs a valid identity signature (identity["${email}"] is missing, forged or expired)`)
    return false
  })
}
