/**
 * The memory of delivered engagements shared by every sender of one API key, in Redis: before
 * sending, each engagement is claimed (`SET NX` with a lease, many per script call); on
 * Conversion's 2xx it is marked delivered for the retention period; on failure, only this
 * sender's own claims are given up (compare-and-delete). A sender that dies leaves leases that
 * expire, and the engagements are then sent by whoever holds them next. While this sender still
 * holds an engagement, it renews the claim, so a long backoff never lets another sender take it.
 *
 * What this process acknowledged is also remembered in it (the compact in-process memory), so a
 * re-send that lands here is answered without asking Redis, and still is while Redis is away.
 */
import type { DeliveryMemory, MemoryKey, Recall } from '../../../core/coalescer/index.js'
import { createMemory } from '../../../core/memory.js'
import type { CoordinationClient } from './client.js'
import type { RedisKeys } from './keys.js'

/** Settings of {@link createRedisMemory}. */
export interface RedisMemorySettings {
  /** How long a delivered engagement is remembered, in ms. */
  retentionMs: number
  /** How long a claim lasts unless renewed, in ms: how long a dead sender's engagements wait. */
  claimLeaseMs: number
  /** A name unique to this replica: its claims carry it. */
  owner: string
}

/** A Redis memory, and the timer that renews its claims. */
export interface RedisMemory extends DeliveryMemory {
  /** Stops renewing claims. */
  stop(): void
}

/** Claims renewed per script call. */
const RENEW_BATCH = 500

const idPart = (key: MemoryKey) => key.digest.slice(0, 16)
const contentPart = (key: MemoryKey) => key.digest.slice(16, 32)

export function createRedisMemory(client: CoordinationClient, keys: RedisKeys, settings: RedisMemorySettings): RedisMemory {
  const local = createMemory({ retentionMs: settings.retentionMs })
  /** Claims this sender holds: renewed until acknowledged or released. */
  const claims = new Map<string, MemoryKey>()
  const names = (list: readonly MemoryKey[]) => list.map((key) => keys.engagement(idPart(key)))

  const ownClaims = (mode: string, list: readonly MemoryKey[]) =>
    client.run('ownClaims', names(list), [mode, settings.owner, ...list.map(contentPart)])

  const renew = async () => {
    const held = [...claims.values()]
    for (let from = 0; from < held.length; from += RENEW_BATCH) {
      await ownClaims(String(settings.claimLeaseMs), held.slice(from, from + RENEW_BATCH)).catch(() => {})
    }
  }
  const timer = setInterval(() => void renew(), Math.max(100, settings.claimLeaseMs / 3))
  timer.unref()

  return {
    async recall(list, now) {
      const verdicts = local.recall(list, now)
      const unknown = list.filter((_, index) => verdicts[index] === 'new')
      if (unknown.length === 0) return verdicts
      const answers = (await client.run('claim', names(unknown), [settings.owner, String(settings.claimLeaseMs), ...unknown.map(contentPart)])) as Recall[]
      unknown.forEach((key, index) => {
        if (answers[index] === 'new') claims.set(key.digest, key)
      })
      let next = 0
      return verdicts.map((verdict) => (verdict === 'new' ? (answers[next++] as Recall) : verdict))
    },
    async acknowledge(list, at) {
      local.acknowledge(list, at)
      for (const key of list) claims.delete(key.digest)
      await client.run('acknowledge', names(list), [String(settings.retentionMs), ...list.map(contentPart)])
    },
    async release(list) {
      for (const key of list) claims.delete(key.digest)
      await ownClaims('', list)
    },
    size: () => local.size(),
    stop: () => clearInterval(timer),
  }
}
