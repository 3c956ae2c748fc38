import { LOG_PREFIX } from './events.js'
import type { Tracker } from './types.js'

const MESSAGE = 'not in a browser (server rendering?): this tracker records nothing'
let warned = false

/** The tracker outside a browser (server rendering): every call is a harmless no-op that says why. */
export function createServerTracker(): Tracker {
  if (!warned) {
    warned = true
    console.warn(LOG_PREFIX, MESSAGE)
  }
  const refused = () => ({ ok: false as const, error: { code: 'unsupported' as const, message: MESSAGE } })
  const nothing = () => {}
  const settled = async () => {}
  return {
    track: refused,
    identify: refused,
    reset: nothing,
    optOut: nothing,
    optIn: nothing,
    flush: settled,
    subscribe: () => nothing,
    stats: async () => ({
      queued: 0,
      held: 0,
      inFlight: 0,
      sent: 0,
      retried: 0,
      rejected: 0,
      dropped: 0,
      leader: false,
      storage: 'memory',
      online: false,
      recentRequests: [],
    }),
    shutdown: settled,
  }
}
