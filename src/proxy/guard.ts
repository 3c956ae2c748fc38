/**
 * The per-client guard at the proxy's door: how many requests, and how many engagements, one
 * client (an address) may send per window. It keeps one client from taking the proxy's whole
 * capacity before the Coalescer's fair sharing even sees it.
 */
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

/**
 * What one client sent within the window, oldest first, with a weight each (1 per request, or a
 * request's engagement count) and their running total. Appends and expiry are O(1) amortized:
 * the guard runs on every request, so it must not copy or filter a client's window each time.
 */
class SlidingLog {
  private times: number[] = []
  private weights: number[] = []
  private head = 0
  private total = 0

  /**
   * Records `weight` at `now` and returns 0 when the window then holds at most `limit` (or it held
   * nothing: one record alone may exceed the limit); else returns how long, in ms, until enough of
   * the oldest records leave the window.
   */
  admit(now: number, windowMs: number, weight: number, limit: number): number {
    this.expire(now - windowMs)
    if (this.total > 0 && this.total + weight > limit) {
      let freed = 0
      for (let i = this.head; i < this.times.length; i++) {
        freed += this.weights[i] as number
        if (this.total + weight - freed <= limit) return (this.times[i] as number) + windowMs - now
      }
      return windowMs
    }
    this.times.push(now)
    this.weights.push(weight)
    this.total += weight
    return 0
  }

  /** Forgets records made at or before `before`, and compacts once most of the arrays are dead. */
  private expire(before: number): void {
    while (this.head < this.times.length && (this.times[this.head] as number) <= before) {
      this.total -= this.weights[this.head] as number
      this.head++
    }
    if (this.head > 32 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head)
      this.weights = this.weights.slice(this.head)
      this.head = 0
    }
  }
}

/** What the guard remembers of one client. */
interface Client {
  requests: SlidingLog
  engagements: SlidingLog
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
    else client = { requests: new SlidingLog(), engagements: new SlidingLog() }
    clients.set(key, client)
    if (clients.size > maxClients) clients.delete(clients.keys().next().value as string)
    return client
  }
  const verdict = (retryAfterMs: number): GuardVerdict => (retryAfterMs === 0 ? { allowed: true } : { allowed: false, retryAfterMs })

  return {
    request: (key) => verdict(clientOf(key).requests.admit(now(), windowMs, 1, requests)),
    engagements: (key, count) => verdict(clientOf(key).engagements.admit(now(), windowMs, count, engagements)),
  }
}
