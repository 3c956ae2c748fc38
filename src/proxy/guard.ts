import { createPacer, type Pacer } from '../core/pacer.js'

/** Whether one more request from a client is allowed now, and if not, when it will be. */
export type GuardVerdict = { allowed: true } | { allowed: false; retryAfterMs: number }

/** Decides, per client, whether a request may go on. */
export type ClientGuard = (client: string) => GuardVerdict | Promise<GuardVerdict>

/** Options of {@link createMemoryGuard}. */
export interface MemoryGuardOptions {
  /** Requests one client may make within `windowMs`. */
  requests: number
  windowMs: number
  now: () => number
  /** Clients tracked at once; the least recently seen are forgotten beyond it. Default `10000`. */
  maxClients?: number
}

/**
 * A per-client sliding-window limit in memory, for a single Node process. Memory stays bounded:
 * clients are kept in the order they were last seen, and the oldest are forgotten first.
 */
export function createMemoryGuard({ requests, windowMs, now, maxClients = 10_000 }: MemoryGuardOptions): ClientGuard {
  const clients = new Map<string, Pacer>()
  return (client) => {
    let pacer = clients.get(client)
    if (pacer) clients.delete(client)
    else pacer = createPacer({ limit: requests, windowMs })
    clients.set(client, pacer)
    if (clients.size > maxClients) clients.delete(clients.keys().next().value as string)
    const at = now()
    return pacer.take(at) ? { allowed: true } : { allowed: false, retryAfterMs: pacer.delay(at) }
  }
}
