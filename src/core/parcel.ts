/** Parcels: engagements as the Coalescer holds them (see `Parcel`). */
import type { Parcel } from './coalescer/types.js'
import { utf8Length } from './json.js'

/**
 * What one held engagement costs besides its strings: the objects that track it (its entry, the
 * waiter of each client request that carries it, its place in the queues), measured on V8 at
 * about 300 bytes and rounded up.
 */
const BOOKKEEPING_BYTES = 400

/** Characters beyond Latin-1 make a JavaScript engine store the whole string at two bytes per character. */
const WIDE = /[\u0100-\uffff]/

const BEYOND_ASCII = /[\u0080-\uffff]/

/** Bytes a string costs in memory. */
function stringBytes(text: string): number {
  return WIDE.test(text) ? text.length * 2 : text.length
}

/**
 * A parcel of one engagement's JSON text, with its id and digest (see `Parcel.digest`).
 * @example toParcel('e-1', digest, '{"id":"e-1","contactEmail":"ada@example.com",...}')
 */
export function toParcel(id: string, digest: string, json: string): Parcel {
  // Most engagements are ASCII: one scan then settles both counts, without the UTF-8 count's loop.
  const ascii = !BEYOND_ASCII.test(json)
  return {
    id,
    digest,
    json,
    wireBytes: ascii ? json.length : utf8Length(json),
    heldBytes: (ascii ? json.length : stringBytes(json)) + stringBytes(id) + digest.length + BOOKKEEPING_BYTES,
  }
}

/** The body of an upstream request, built from the parcels' texts without parsing them again. */
export function batchBody(parcels: readonly Parcel[]): string {
  let body = '{"batch":['
  for (let i = 0; i < parcels.length; i++) body += (i === 0 ? '' : ',') + (parcels[i] as Parcel).json
  return `${body}]}`
}

/** Bytes of `{"batch":[` and `]}`, and of the comma between two engagements. */
export const BATCH_ENVELOPE_BYTES = 12
export const SEPARATOR_BYTES = 1
