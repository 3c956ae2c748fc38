/**
 * Holds a request rate: never more than `limit` starts in any window of `windowMs`
 * milliseconds, wherever that window is placed. Pure arithmetic on the times it is given:
 * no timers, no clock of its own, so callers decide how to wait and tests decide what time it is.
 */
export interface Pacer {
  /** Milliseconds to wait before a start at `now` is allowed; 0 when it is allowed now. */
  delay(now: number): number
  /** Records a start at `now` if one is allowed, and says whether it was. */
  take(now: number): boolean
  /** Treats the window as full as of `now`: for a sender that cannot know what others started just before. */
  saturate(now: number): void
  /** The starts inside the window that ends at `now`, oldest first. */
  recent(now: number): number[]
}

/** Options of {@link createPacer}. */
export interface PacerOptions {
  /** Most starts allowed in one window. */
  limit: number
  /** Length of the sliding window, in milliseconds. */
  windowMs: number
}

export function createPacer({ limit, windowMs }: PacerOptions): Pacer {
  // The last `limit` starts, oldest first. A new start is allowed once the oldest of them has
  // left the window, so no window of `windowMs` can hold `limit + 1` of them.
  const starts: number[] = []

  const delay = (now: number): number =>
    starts.length < limit ? 0 : Math.max(0, (starts[0] as number) + windowMs - now)

  const record = (now: number): void => {
    starts.push(now)
    if (starts.length > limit) starts.shift()
  }

  return {
    delay,
    take(now) {
      if (delay(now) > 0) return false
      record(now)
      return true
    },
    saturate(now) {
      for (let i = 0; i < limit; i++) record(now)
    },
    recent: (now) => starts.filter((start) => start > now - windowMs),
  }
}
