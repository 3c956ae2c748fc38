/** What the proxy's settlement of a request does to the request's entries (see delivery-state.ts). */
import type { Settlement } from '../contract.js'
import { idsOf, type Effects, type Outgoing } from './delivery-steps.js'
import type { OutboxEntry } from './outbox.js'

/**
 * The effects of a settlement: the entries it settled are removed, those sent reported, those
 * rejected reported one by one. An engagement the proxy left unchecked (its isolation budget was
 * spent on this request) goes again alone, into `halves`, still reserved: the request hands it
 * over. Alone, it was checked: then the answer is final.
 */
export function settled(outgoing: Outgoing, { accepted, duplicates, rejected }: Settlement, halves: OutboxEntry[][]): Effects {
  const { entries } = outgoing
  const alone = entries.length > 1 ? rejected.filter((item) => item.unchecked).map((item) => item.id) : []
  // One left unchecked moves to `halves` as it is filtered out (push returns a length, never 0).
  outgoing.entries = entries.filter((entry) => !alone.includes(entry.engagement.id) || !halves.push([entry]))
  const refused = rejected.filter((item) => !alone.includes(item.id))
  return {
    remove: outgoing.entries,
    events: [
      { type: 'sent', ids: idsOf(outgoing.entries).filter((id) => !refused.some((item) => item.id === id)), accepted, duplicates },
      ...refused.map(({ id, reason }) => ({ type: 'rejected' as const, id, reason })),
    ],
  }
}
