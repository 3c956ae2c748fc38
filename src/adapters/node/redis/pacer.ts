/**
 * The pacer of every sender of one API key, in Redis: a sliding-window log held by one Lua script
 * on the server's clock (see RESERVE in scripts.ts). Known rate limiters (rate-limiter-flexible,
 * BullMQ's, @upstash/ratelimit) use fixed or approximate windows and cannot promise "never more
 * than N in any sliding second" at the receiver; this log does, because a slot counts until a
 * window after its request's answer.
 */
import type { Reservation, SharedPacer } from '../../../core/coalescer/index.js'
import type { RedisKeys } from './keys.js'
import type { CoordinationClient } from './client.js'

/** Settings of {@link createRedisPacer}. */
export interface RedisPacerSettings {
  limit: number
  windowMs: number
  /**
   * A reservation whose answer takes longer than this to come back is abandoned (the slot still
   * counts), so that every request this pacer lets start is answered or given up on before its
   * slot's lease ends, however slow Redis or the event loop was.
   */
  startWithinMs: number
  /** How long a slot is held at most: the start margin, the upstream timeout, and slack. */
  leaseMs: number
  /** A name unique to this replica, for its slots. */
  owner: string
}

/** The longest a replica waits before asking again: others' answers free slots it cannot see coming. */
const POLL_MS = 50
/** After an abandoned slot, a short pause, so a slow Redis is not asked in a tight loop. */
const ABANDONED_PAUSE_MS = 10

export function createRedisPacer(client: CoordinationClient, keys: RedisKeys, settings: RedisPacerSettings): SharedPacer {
  let slots = 0
  const land = (slot: string): void => {
    // A slot that cannot be landed keeps counting until its lease ends: safe, only slower.
    client.run('land', [keys.pacer], [slot]).catch(() => {})
  }
  return {
    async reserve(): Promise<Reservation> {
      const slot = `${settings.owner}:${++slots}`
      const asked = performance.now()
      const [granted, value] = (await client.run(
        'reserve',
        [keys.pacer, keys.epoch],
        [settings.limit, settings.windowMs, settings.leaseMs, slot].map(String),
      )) as [number, number]
      if (granted !== 1) return { granted: false, waitMs: Math.min(value, POLL_MS) }
      if (performance.now() - asked > settings.startWithinMs) {
        land(slot)
        return { granted: false, waitMs: ABANDONED_PAUSE_MS }
      }
      return { granted: true, slot: { land: () => land(slot) } }
    },
  }
}
