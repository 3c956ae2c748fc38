/** The in-process {@link SharedPacer}: sliding-window arithmetic on the times it is given. */
import type { Pacer } from '../pacer.js'
import type { SharedPacer } from './types.js'

/** A pacer for the senders of one process (or of one Durable Object), over `createPacer`. */
export function localPacer(pacer: Pacer): SharedPacer {
  return {
    reserve(now) {
      const waitMs = pacer.delay(now)
      const flight = waitMs > 0 ? undefined : pacer.launch(now)
      return flight ? { granted: true, slot: flight } : { granted: false, waitMs: Math.max(waitMs, 1) }
    },
    recent: (now) => pacer.recent(now),
    wait: (now) => pacer.delay(now),
  }
}
