import { HELD, isHeld, SENDABLE, type OutboxEntry } from './entry.js'
import type { Platform, ResolvedOptions } from './options.js'
import type { StoreTransaction } from './store.js'
import type { DropReason } from './types.js'

/**
 * How long an exact count of the outbox is trusted, in ms. Counting walks the whole range (ms at
 * 100,000 entries), so appends in between add what they wrote instead; other tabs append too,
 * which is why the count is taken again after this.
 */
const COUNT_TTL_MS = 1_000

/** The outbox's caps: the oldest entries beyond `maxQueueSize` (sendable) and `maxHeld` are dropped. */
export interface Caps {
  /** Drops the oldest entries beyond the caps, in the transaction that just stored `entries`: which keys, and why. */
  enforce(tx: StoreTransaction, entries: readonly OutboxEntry[]): Promise<[string[], DropReason][]>
  /** `count` held entries became sendable. */
  released(count: number): void
  /** The outbox was cleared: the next write counts again. */
  recount(): void
}

export function createCaps(options: Pick<ResolvedOptions, 'maxQueueSize' | 'maxHeld'> & { platform: Pick<Platform, 'now'> }): Caps {
  const caps = [
    [SENDABLE, options.maxQueueSize, 'queue-full'],
    [HELD, options.maxHeld, 'held-full'],
  ] as const
  // Sendable and held entries (in the order of `caps`) at the last exact count, plus what this tab stored since.
  // Removals are not subtracted: the estimate errs high, and high is counted again before anything is dropped.
  let sizes = [0, 0]
  let countedAt = -Infinity
  return {
    async enforce(tx, entries) {
      for (const entry of entries) sizes[+isHeld(entry)]!++
      const now = options.platform.now()
      if (now - countedAt >= COUNT_TTL_MS || caps.some(([, cap], i) => sizes[i]! > cap)) {
        sizes = [await tx.read('count', SENDABLE), await tx.read('count', HELD)]
        countedAt = now
      }
      const out: [string[], DropReason][] = []
      for (let i = 0; i < caps.length; i++) {
        const [span, cap, reason] = caps[i]!
        const excess = sizes[i]! - cap
        if (excess > 0) {
          const keys = await tx.read('getAllKeys', span, excess)
          keys.forEach((key) => tx.delete(key))
          sizes[i]! -= keys.length
          out.push([keys, reason])
        }
      }
      return out
    },
    released: (count) => void (sizes[0]! += count),
    recount: () => void (countedAt = -Infinity),
  }
}
