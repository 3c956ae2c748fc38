import type { Platform } from './options.js'

/** The election of the tab that sends for its origin: at most one tab leads at any time. */
export interface Leadership {
  /** Enters the election, or re-enters it after `leave()` (a page restored from the back/forward cache). */
  enter(): void
  /** Gives up leadership, or stops waiting for it, so another tab takes over at once. */
  leave(): void
}

/** How long a lease lasts without renewal, and how often the holder renews it (the fallback). */
const LEASE_MS = 3_000
const RENEW_MS = 1_000

/**
 * Elects one tab per `name` with a Web Lock held for the tab's life. Where Web Locks are missing
 * (insecure contexts, old browsers) or refuse (sandboxed frames, blocked site data), a lease in
 * localStorage that the holder renews stands in; where that is missing too, the tab assumes it
 * is alone. `set` hears whether this tab leads, at every change and perhaps again in between.
 */
export function createLeadership(
  name: string,
  platform: Platform,
  set: (isLeader: boolean) => void,
  warn: (message: string) => void,
): Leadership {
  const lease = () => byLease(name, platform, set, warn)
  return platform.locks ? byLock(name, platform.locks, set, lease) : lease()
}

/** Web Locks, and `lease()` in their place for good once they refuse (a sandboxed frame, blocked site data). */
function byLock(name: string, locks: LockManager, set: (value: boolean) => void, lease: () => Leadership): Leadership {
  let waiting: AbortController | undefined
  let release: (() => void) | undefined
  let fallback: Leadership | undefined
  return {
    enter() {
      if (fallback) return fallback.enter()
      if (waiting) return
      const request = (waiting = new AbortController())
      locks
        .request(name, { signal: request.signal }, () => {
          set(true)
          // Held until leave() or until the tab is gone.
          return new Promise<void>((resolve) => (release = resolve))
        })
        .catch(() => {
          // Aborted by leave(): the tab stopped waiting on purpose.
          if (request.signal.aborted) return
          waiting = undefined
          fallback = lease()
          fallback.enter()
        })
    },
    leave() {
      fallback?.leave()
      waiting?.abort()
      release?.()
      waiting = release = undefined
      set(false)
    },
  }
}

function byLease(name: string, platform: Platform, set: (value: boolean) => void, warn: (message: string) => void): Leadership {
  const storage = platform.localStorage
  const me = platform.randomUUID()
  let timer: unknown
  let claimed = false
  /** The lease as stored: its owner and when it expires. */
  const lease = () => (storage?.getItem(name) ?? '').split(' ')

  const renew = () => {
    try {
      const [owner, expires] = lease()
      const now = platform.now()
      const free = !owner || owner === me || +expires! < now
      // Two tabs may claim a free lease at the same moment and only one write survives, so a
      // tab leads only once it reads its own claim back on the next round.
      set(free && claimed)
      claimed = free
      if (free) storage?.setItem(name, `${me} ${now + LEASE_MS}`)
    } catch {
      set(true)
    }
    timer = platform.setTimeout(renew, RENEW_MS)
  }

  return {
    enter() {
      if (timer !== undefined) return
      if (!storage) warn('no Web Locks nor localStorage: every tab sends on its own')
      renew()
    },
    leave() {
      platform.clearTimeout(timer)
      timer = undefined
      claimed = false
      try {
        if (lease()[0] === me) storage!.removeItem(name)
      } catch {
        // Storage went away; the lease expires by itself.
      }
      set(false)
    },
  }
}
