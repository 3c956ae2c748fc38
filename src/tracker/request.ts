import type { DraftEngagement } from '../contract.js'

/** What a request carries of one engagement: the engagement, and its contact's identity signature if known. */
export interface Carried {
  engagement: DraftEngagement
  /** Absent, or undefined, when none is known. */
  signature?: string | undefined
}

/**
 * Bytes `text` takes in UTF-8 (a lone surrogate as U+FFFD), as a body carries it: the browser's
 * own encoder counts them, so the script tag carries no counting loop of its own.
 */
export const byteLength = (text: string): number => new TextEncoder().encode(text).length

/** `{"batch":` + `,"identity":{}` + `}`: what a body spends outside its engagements. */
export const ENVELOPE_BYTES = 24

/** The JSON body of a request: the engagements, and the identity signatures of their contacts. */
export function requestBody(items: readonly Carried[]): string {
  let identity: Record<string, string> | undefined
  for (const { engagement, signature } of items) {
    if (signature) (identity ??= {})[engagement.contactEmail!] = signature
  }
  // JSON leaves `identity` out while it is undefined.
  return JSON.stringify({ batch: items.map((item) => item.engagement), identity })
}

/**
 * The bytes an engagement adds to a request body, its identity signature included. Counted
 * when batches are cut, never when it is tracked: the page's own task does not pay for it.
 */
export function carriedBytes({ engagement, signature }: Carried): number {
  const bytes = byteLength(JSON.stringify(engagement))
  // `"email":"signature",` in the request's identity map, the email in UTF-8 as JSON writes it.
  return signature ? bytes + byteLength(JSON.stringify(engagement.contactEmail)) + signature.length + 4 : bytes
}
