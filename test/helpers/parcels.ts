/** Parcels for tests: engagements as the Coalescer holds them, digested the way the proxy does. */
import { hash } from 'node:crypto'
import type { Engagement } from '../../src/contract.js'
import type { Parcel } from '../../src/core/coalescer/index.js'
import { toParcel } from '../../src/core/parcel.js'

const sha = (text: string) => hash('sha256', text, 'hex').slice(0, 16)

/** The digest of an engagement's id and JSON text: 64 bits of each's SHA-256. */
export const digestOf = (id: string, json: string): string => sha(id) + sha(json)

/** An engagement (or any object with an id) as a parcel. */
export function parcelOf(engagement: Engagement | { id: string }): Parcel {
  const json = JSON.stringify(engagement)
  return toParcel(engagement.id, digestOf(engagement.id, json), json)
}

export const parcelsOf = (list: readonly (Engagement | { id: string })[]): Parcel[] => list.map(parcelOf)
