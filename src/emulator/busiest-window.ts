/** Tracks the most starts that ever fell within one window of `windowMs`, wherever placed. */
export interface BusiestWindow {
  /** Notes a start at `at`; starts must come in time order. */
  record(at: number): void
  /** The most starts seen in any half-open window `[t, t + windowMs)`. */
  most(): number
}

export function createBusiestWindow(windowMs: number): BusiestWindow {
  // Only the starts of the last window are kept, so the answer stays exact over any number of
  // requests while memory follows the request rate, not the request count.
  let recent: number[] = []
  let oldest = 0
  let most = 0
  return {
    record(at) {
      recent.push(at)
      while ((recent[oldest] as number) <= at - windowMs) oldest++
      most = Math.max(most, recent.length - oldest)
      if (oldest > 1024 && oldest * 2 > recent.length) {
        recent = recent.slice(oldest)
        oldest = 0
      }
    },
    most: () => most,
  }
}
