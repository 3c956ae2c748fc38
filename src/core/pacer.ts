/**
 * Holds a request rate: never more than `limit` starts in any window of `windowMs`
 * milliseconds, wherever that window is placed. Pure arithmetic on the times it is given:
 * no timers, no clock of its own, so callers decide how to wait and tests decide what time it is.
 */
export interface Pacer {
  /**
   * Milliseconds to wait before a start at `now` is allowed; 0 when it is allowed now, and
   * `Infinity` when it depends on an answer still awaited (see {@link Pacer.launch}).
   */
  delay(now: number): number
  /** Records a start at `now` if one is allowed, and says whether it was. */
  take(now: number): boolean
  /**
   * Records a start at `now`, if one is allowed, whose place in the receiver's window is not
   * known until its answer comes: the receiver got it at some moment between the start and the
   * answer. It holds a slot until `land(at)` is called with the answer's time, and then counts
   * as if it had started then. So the next start that needs its slot waits a full window after
   * the answer, and no window AT THE RECEIVER can hold more than `limit` requests, however long
   * each one spent on the way. The price is throughput: `limit` starts per window plus latency.
   */
  launch(now: number): Flight | undefined
  /** The starts that hold a slot at `now`, oldest first (answers awaited count as `now`). */
  recent(now: number): number[]
}

/** A start whose answer is awaited. */
export interface Flight {
  /** The answer came at `at` (or the request was abandoned then). */
  land(at: number): void
}

/** Options of {@link createPacer}. */
export interface PacerOptions {
  /** Most starts allowed in one window. */
  limit: number
  /** Length of the sliding window, in milliseconds. */
  windowMs: number
}

interface Slot {
  /** When the start happened, or when its answer came once it has. */
  at: number
  awaited: boolean
}

export function createPacer({ limit, windowMs }: PacerOptions): Pacer {
  // Slots still inside the window, and every awaited one however old.
  let slots: Slot[] = []

  const active = (now: number): Slot[] => {
    slots = slots.filter((slot) => slot.awaited || slot.at > now - windowMs)
    return slots
  }

  const delay = (now: number): number => {
    const held = active(now)
    if (held.length < limit) return 0
    // Room comes when enough answered slots leave the window; awaited ones never leave by themselves.
    const answered = held
      .filter((slot) => !slot.awaited)
      .map((slot) => slot.at)
      .sort((a, b) => a - b)
    const mustLeave = held.length - limit + 1
    if (answered.length < mustLeave) return Infinity
    return Math.max(0, (answered[mustLeave - 1] as number) + windowMs - now)
  }

  const record = (now: number, awaited: boolean): Slot | undefined => {
    if (delay(now) > 0) return undefined
    const slot = { at: now, awaited }
    slots.push(slot)
    return slot
  }

  return {
    delay,
    take: (now) => record(now, false) !== undefined,
    launch(now) {
      const slot = record(now, true)
      return (
        slot && {
          land(at) {
            slot.awaited = false
            slot.at = Math.max(slot.at, at)
          },
        }
      )
    },
    recent: (now) =>
      active(now)
        .map((slot) => (slot.awaited ? now : slot.at))
        .sort((a, b) => a - b),
  }
}
