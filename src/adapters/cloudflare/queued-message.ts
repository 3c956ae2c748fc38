/**
 * A queued message as the consumer reads it (its parcels; a message an earlier version queued is
 * digested here), and what its settlement comes to.
 */
import type { Engagement } from '../../contract.js'
import type { Parcel, SubmitResult } from '../../core/coalescer/index.js'
import { toParcel } from '../../core/parcel.js'
import { digestOf, webCryptoSha256 } from '../../proxy/fingerprint.js'
import type { DeadLetter } from './env.js'

const PARCEL_KEYS = { id: 'string', digest: 'string', json: 'string', wireBytes: 'number', heldBytes: 'number' } as const

/** The parcels of a queued message, or undefined when it is not one of ours. */
export async function readMessage(body: unknown): Promise<Parcel[] | undefined> {
  const message = body as { parcels?: unknown; engagements?: unknown } | null
  const items = message?.parcels ?? message?.engagements
  if (!Array.isArray(items) || items.length === 0) return undefined
  if (message?.parcels) {
    const ours = items.every((item: unknown) =>
      Object.entries(PARCEL_KEYS).every(([key, type]) => typeof (item as Record<string, unknown> | null)?.[key] === type),
    )
    return ours ? (items as Parcel[]) : undefined
  }
  // A message an earlier version queued, still in the queue after an upgrade: digested here.
  if (!items.every((item: unknown) => typeof (item as { id?: unknown } | null)?.id === 'string')) return undefined
  return Promise.all(
    (items as Engagement[]).map(async (engagement) => {
      const json = JSON.stringify(engagement)
      return toParcel(engagement.id, await digestOf(webCryptoSha256, engagement.id, json), json)
    }),
  )
}

/**
 * What a settled message comes to: dead letters for its rejections, and the parcels left
 * unchecked (the isolation budget of the message spent) to send again `alone`, when the message
 * held several and they can be sent again (`requeue`); else those are dead letters too.
 */
export function sortSettled(
  result: Extract<SubmitResult, { kind: 'settled' }>,
  parcels: Parcel[],
  at: string,
  requeue: boolean,
): { rejections: DeadLetter[]; alone: Parcel[] } {
  const byId = new Map(parcels.map((parcel) => [parcel.id, parcel]))
  const rejections: DeadLetter[] = []
  const alone: Parcel[] = []
  for (const { id, reason, unchecked } of result.rejected) {
    const parcel = byId.get(id)
    if (!parcel) continue
    if (unchecked && requeue && parcels.length > 1) alone.push(parcel)
    else rejections.push({ kind: 'rejected', engagement: JSON.parse(parcel.json) as Engagement, reason, at })
  }
  return { rejections, alone }
}

/** A dead letter as a log line. */
export function describeLetter(letter: DeadLetter): string {
  return letter.kind === 'rejected' ? `${letter.engagement.id}: ${letter.reason}` : letter.reason
}
