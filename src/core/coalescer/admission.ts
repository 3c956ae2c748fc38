/**
 * Whether a client request is taken at all: refused at once, rather than held open, when the
 * proxy is stopped, when its client holds more than its share, when the proxy is full (in
 * engagements or in bytes), or when nothing can be sent before its deadline.
 */
import type { UpstreamHealth } from './health.js'
import type { Ledger } from './ledger.js'
import type { CoalescerSettings } from './options.js'
import type { Refusals } from './refusals.js'
import type { Parcel, Refusal } from './types.js'

/** What admission looks at. */
export interface AdmissionView {
  settings: CoalescerSettings
  ledger: Ledger
  refusals: Refusals
  health: UpstreamHealth
  /** Engagements waiting to be sent. */
  waiting: number
}

/** The refusal of a client request, or undefined when it is taken. `client` is undefined when clients are not told apart. */
export function refusalOf(
  view: AdmissionView,
  now: number,
  parcels: readonly Parcel[],
  client: string | undefined,
  deadlineMs: number,
): Refusal | undefined {
  const { settings, ledger, refusals, health } = view
  if (health.stopped(now)) return health.unavailable(now)
  let count = 0
  let bytes = 0
  for (const parcel of parcels) {
    if (ledger.held.has(parcel.id) || refusals.has(parcel)) continue
    count++
    bytes += parcel.heldBytes
  }
  if (count === 0) return undefined
  const { maxBacklog, maxHeldBytes, clientShare } = settings
  const busy = (reason: string): Refusal => ({ kind: 'busy', retryAfterMs: health.retryAfterMs(now, view.waiting), reason })
  if (client !== undefined) {
    const usage = ledger.usageOf(client)
    if (usage.count + count > maxBacklog * clientShare || usage.bytes + bytes > maxHeldBytes * clientShare) {
      return {
        kind: 'throttled',
        // Its share of the sending comes once in as many turns as there are clients.
        retryAfterMs: health.retryAfterMs(now, usage.count * Math.max(1, ledger.clients)),
        reason: `This client holds ${usage.count} engagements (${usage.bytes} bytes), its share of the proxy`,
      }
    }
  }
  if (ledger.held.size + count > maxBacklog)
    return busy(`The proxy is full: it holds ${ledger.held.size} engagements of at most ${maxBacklog}`)
  if (ledger.heldBytes + bytes > maxHeldBytes)
    return busy(`The proxy is full: its engagements take ${ledger.heldBytes} bytes of at most ${maxHeldBytes}`)
  // Nothing can be sent before the deadline: say so now rather than hold the request open.
  if (health.backoffUntil - now >= deadlineMs)
    return busy('Conversion is failing or asked to slow down; the proxy is waiting before its next request')
  return undefined
}
