import type { DraftEngagement } from '../contract.js'
import type { Contact } from './engagement.js'
import type { Carried } from './request.js'
import type { KeySpan } from './store.js'

/*
 * The outbox's entries and their keys. The key format belongs to the outbox: this file and
 * outbox.ts are the only ones that read a key's characters; everyone else compares keys at most.
 */

/**
 * One queued engagement and what the sender needs to know of it. Its `key` is the outbox's
 * business: others may compare keys and pass them around, never read into them.
 */
export interface OutboxEntry extends Carried {
  /** Unique within the origin; its string order is the outbox's order. */
  key: string
  /** When a beacon carried it; a beacon brings no answer, so it stays until one does. */
  beaconAt?: number
}

/*
 * The key of an entry: `s` (sendable) or `h` (held until a contact is known), the time it was
 * tracked and the tracking tab's call counter in fixed-width base 36, then the engagement id,
 * which keeps tabs that track in the same millisecond apart.
 */
export const SENDABLE = { start: 's', end: 't' } as const satisfies KeySpan
export const HELD = { start: 'h', end: 'i' } as const satisfies KeySpan
/** Where the time ends and the id starts in a key. */
const TIME_END = 10
const ID_OFFSET = 16

/** A new entry for `engagement`, tracked at `time` as this tab's `sequence`th call; held while it has no contact. */
export function createEntry(engagement: DraftEngagement, signature: string | undefined, time: number, sequence: number): OutboxEntry {
  const place = time.toString(36).padStart(9, '0') + sequence.toString(36).padStart(6, '0') + engagement.id
  return { key: (engagement.contactEmail ? SENDABLE : HELD).start + place, engagement, signature }
}

/** The entry a held one becomes once its contact is known: in the same place of the order, sendable. */
export function releasedEntry(held: OutboxEntry, contact: Contact): OutboxEntry {
  const engagement = { ...held.engagement, contactEmail: contact.email }
  return { key: SENDABLE.start + held.key.slice(1), engagement, signature: contact.signature }
}

/** When the entry was tracked, in epoch ms. */
export const trackedAt = (entry: OutboxEntry): number => parseInt(entry.key.slice(1, TIME_END), 36)

/** Whether the entry waits for a contact (and may not be sent yet). */
export const isHeld = (entry: OutboxEntry): boolean => entry.key < SENDABLE.start

/** The engagement id in a key. */
export const idOf = (key: string): string => key.slice(ID_OFFSET)
