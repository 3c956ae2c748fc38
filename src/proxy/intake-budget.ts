/**
 * Bytes of request bodies being read and checked at once: the memory a client request costs
 * before its engagements reach the Coalescer (which bounds what it holds itself). One client may
 * hold a share of it; the whole is bounded too.
 */

/** Options of {@link createIntakeBudget}. */
export interface IntakeBudgetOptions {
  /** Most bytes of bodies in progress at once. */
  maxBytes: number
  /** The share of `maxBytes` one identified client may hold, above 0 and at most 1. */
  clientShare: number
}

/** Who is over what, when a body does not fit. */
export type IntakeRefusal = 'client' | 'proxy'

export interface IntakeBudget {
  /** Counts `bytes` more for `client` (undefined: not told apart), or says who would be over. */
  take(client: string | undefined, bytes: number): IntakeRefusal | undefined
  /** Gives back what `take` counted. */
  give(client: string | undefined, bytes: number): void
  readonly bytes: number
}

export function createIntakeBudget({ maxBytes, clientShare }: IntakeBudgetOptions): IntakeBudget {
  const perClient = new Map<string, number>()
  let total = 0
  return {
    take(client, bytes) {
      const mine = client === undefined ? 0 : (perClient.get(client) ?? 0)
      if (client !== undefined && mine + bytes > maxBytes * clientShare) return 'client'
      if (total + bytes > maxBytes) return 'proxy'
      total += bytes
      if (client !== undefined) perClient.set(client, mine + bytes)
      return undefined
    },
    give(client, bytes) {
      total -= bytes
      if (client === undefined) return
      const left = (perClient.get(client) ?? 0) - bytes
      if (left > 0) perClient.set(client, left)
      else perClient.delete(client)
    },
    get bytes() {
      return total
    },
  }
}
