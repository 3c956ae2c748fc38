/**
 * The memory of delivered engagements shared by every sender of one API key, in Redis: before
 * sending, each engagement is claimed (`SET NX` with a lease, many per script call); on
 * Conversion's 2xx it is marked delivered for the retention period; on failure, only this
 * sender's own claims are given up (compare-and-delete). A sender that dies leaves leases that
 * expire, and the engagements are then sent by whoever holds them next. While this sender still
 * holds an engagement, it renews the claim, so a long backoff never lets another sender take it.
 * An acknowledgement that Redis did not take (a blip) keeps its claim renewed and is stored again
 * with the renewals and on reconnection, until Redis has it.
 *
 * What this process acknowledged is also remembered in it (the compact in-process memory), so a
 * re-send that lands here is answered without asking Redis, and still is while Redis is away.
 *
 * When Redis comes back empty (its epoch changed: a restart without persistence), every replica
 * puts back what only it knows, its claims and what it acknowledged, and answers no question for
 * a grace period, so that the others can put back theirs before anyone is told `new`. A recovery
 * cut short is made again (with the renewals, on reconnection, or before the next question), and
 * no question is answered until one has succeeded.
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
  /** After Redis restarted empty, how long questions wait for the other replicas to put back what they know, in ms. */
  recoveryGraceMs: number
}

/** A Redis memory, and the timer that renews its claims. */
export interface RedisMemory extends DeliveryMemory {
  /** Stops renewing claims. */
  stop(): void
}

/** Claims renewed (or put back) per script call. */
const BATCH = 500

const idPart = (key: MemoryKey) => key.digest.slice(0, 16)
const contentPart = (key: MemoryKey) => key.digest.slice(16, 32)

export function createRedisMemory(client: CoordinationClient, keys: RedisKeys, settings: RedisMemorySettings): RedisMemory {
  const local = createMemory({ retentionMs: settings.retentionMs })
  /** Claims this sender holds: renewed until their acknowledgement is stored in Redis, or released. */
  const claims = new Map<string, MemoryKey>()
  /**
   * Acknowledged by Conversion but not stored in Redis (it failed): until they are, only this
   * process knows they were delivered, so their claims are kept and they are stored again.
   */
  const unstored = new Map<string, MemoryKey>()
  const names = (list: readonly MemoryKey[]) => list.map((key) => keys.engagement(idPart(key)))

  const ownClaims = (mode: string, list: readonly MemoryKey[]) =>
    client.run('ownClaims', names(list), [mode, settings.owner, ...list.map(contentPart)])

  const inBatches = async (list: readonly MemoryKey[], run: (batch: MemoryKey[]) => Promise<unknown>) => {
    for (let from = 0; from < list.length; from += BATCH) await run(list.slice(from, from + BATCH))
  }
  const claim = (list: readonly MemoryKey[]) =>
    client.run('claim', names(list), [settings.owner, String(settings.claimLeaseMs), ...list.map(contentPart)]) as Promise<Recall[]>
  const publish = (list: readonly MemoryKey[]) =>
    client.run('acknowledge', names(list), [String(settings.retentionMs), ...list.map(contentPart)])

  /** Stores acknowledgements in Redis; once stored, their claims need no renewing. */
  const store = (list: readonly MemoryKey[]) =>
    inBatches(list, async (batch) => {
      await publish(batch)
      for (const key of batch) {
        unstored.delete(key.digest)
        claims.delete(key.digest)
      }
    })
  const storeAgain = () => store([...unstored.values()]).catch(() => {})

  /** Questions wait for this: the last check of Redis's epoch, with the recovery it called for. */
  let checked: Promise<void> = Promise.resolve()
  /** The last check failed: what Redis lost may not be back, so it is checked again before answering. */
  let unsure = false
  let epoch: string | undefined
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

  /** Puts back what Redis lost and only this replica knows: its claims, and what it acknowledged. */
  const recover = async () => {
    const until = Date.now() + settings.recoveryGraceMs
    await inBatches([...claims.values()], claim)
    // Newest first: the latest deliveries are those whose clients are the likeliest to send them again.
    const delivered = Array.from(local.entries(), ([digest]) => digest)
    for (let end = delivered.length; end > 0; end -= BATCH) {
      await publish(
        delivered
          .slice(Math.max(0, end - BATCH), end)
          .reverse()
          .map((digest) => ({ id: '', digest })),
      )
    }
    await wait(until - Date.now())
  }

  const checkEpoch = (): Promise<void> => {
    const attempt = (async () => {
      const current = String(await client.run('epoch', [keys.epoch], []))
      if (epoch !== undefined && current !== epoch) await recover()
      // Recorded only now: a recovery cut short is made again at the next check.
      epoch = current
    })()
    checked = attempt
    unsure = false
    attempt.catch(() => {
      if (checked === attempt) unsure = true
    })
    return attempt
  }

  let renewing = false
  const renew = async () => {
    if (renewing) return
    renewing = true
    try {
      if (unsure) await checkEpoch().catch(() => {})
      await storeAgain()
      await inBatches([...claims.values()], (batch) => ownClaims(String(settings.claimLeaseMs), batch)).catch(() => {})
    } finally {
      renewing = false
    }
  }
  const timer = setInterval(() => void renew(), Math.max(100, settings.claimLeaseMs / 3))
  timer.unref()

  client.onReady(() => void checkEpoch().then(storeAgain, () => {}))

  return {
    async recall(list, now) {
      // Fails closed: no engagement is called new while what Redis lost may not be back.
      await (unsure ? checkEpoch() : checked)
      const verdicts = local.recall(list, now)
      const unknown = list.filter((_, index) => verdicts[index] === 'new')
      if (unknown.length === 0) return verdicts
      const answers = await claim(unknown)
      unknown.forEach((key, index) => {
        if (answers[index] === 'new') claims.set(key.digest, key)
      })
      let next = 0
      return verdicts.map((verdict) => (verdict === 'new' ? (answers[next++] as Recall) : verdict))
    },
    async acknowledge(list, at) {
      local.acknowledge(list, at)
      try {
        await store(list)
      } catch (error) {
        for (const key of list) unstored.set(key.digest, key)
        throw error
      }
    },
    async release(list) {
      for (const key of list) claims.delete(key.digest)
      await ownClaims('', list)
    },
    size: () => local.size(),
    stop: () => clearInterval(timer),
  }
}
