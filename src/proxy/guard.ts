/**
 * The per-client guard at the proxy's door: how many requests, and how many engagements, one
 * client (an address) may send per window. It keeps one client from taking the proxy's whole
 * capacity before the Coalescer's fair sharing even sees it.
 */
import { createPacer, type Pacer } from '../core/pacer.js'

/** Whether a client may go on now, and if not, when it may. */
export type GuardVerdict = { allowed: true } | { allowed: false; retryAfterMs: number }

/** Decides, per client, whether a request may go on. */
export interface ClientGuard {
  /** Counts one request, before its body is read. */
  request(client: string): GuardVerdict | Promise<GuardVerdict>
  /** Counts the engagements of a request once its body is read; absent where only requests are counted. */
  engagements?(client: string, count: number): GuardVerdict
}

/** Options of {@link createMemoryGuard}. */
export interface MemoryGuardOptions {
  /** Requests one client may make within `windowMs`. */
  requests: number
  /** Engagements one client may send within `windowMs`. */
  engagements: number
  windowMs: number
  now: () => number
  /** Clients tracked at once; the least recently seen are forgotten beyond it. Default `10000`. */
  maxClients?: number
}

/** What the guard remembers of one client. */
interface Client {
  requests: Pacer
  /** Engagement counts of this window's requests, with their times. */
  sent: { at: number; count: number }[]
}

/**
 * A per-client sliding-window limit in memory, for one process. Memory stays bounded: clients are
 * kept in the order they were last seen, and the oldest are forgotten first.
 */
export function createMemoryGuard({ requests, engagements, windowMs, now, maxClients = 10_000 }: MemoryGuardOptions): ClientGuard {
  const clients = new Map<string, Client>()

  const clientOf = (key: string): Client => {
    let client = clients.get(key)
    if (client) clients.delete(key)
    else client = { requests: createPacer({ limit: requests, windowMs }), sent: [] }
    clients.set(key, client)
    if (clients.size > maxClients) clients.delete(clients.keys().next().value as string)
    return client
  }

  return {
    request(key) {
      const client = clientOf(key)
      const at = now()
      return client.requests.take(at) ? { allowed: true } : { allowed: false, retryAfterMs: client.requests.delay(at) }
    },
    engagements(key, count) {
      const client = clientOf(key)
      const at = now()
      client.sent = client.sent.filter((item) => item.at > at - windowMs)
      let total = count
      for (const item of client.sent) total += item.count
      if (total > engagements && client.sent.length > 0) {
        // Room comes when enough of the oldest counts leave the window.
        let freed = 0
        for (const item of client.sent) {
          freed += item.count
          if (total - freed <= engagements) return { allowed: false, retryAfterMs: item.at + windowMs - at }
        }
        return { allowed: false, retryAfterMs: windowMs }
      }
      client.sent.push({ at, count })
      return { allowed: true }
    },
  }
}
