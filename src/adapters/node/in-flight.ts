/** A count of things under way, and promises that resolve when it comes back to zero: what a graceful stop waits on. */

export interface InFlight {
  readonly count: number
  /** One more is under way. */
  start(): void
  /** One has ended; at zero, every `idle()` waiting resolves. */
  end(): void
  /** Resolves once none is under way (at once when none is). */
  idle(): Promise<void>
}

export function countInFlight(): InFlight {
  let count = 0
  let waiters: (() => void)[] = []
  return {
    get count() {
      return count
    },
    start() {
      count++
    },
    end() {
      count--
      if (count > 0) return
      const woken = waiters
      waiters = []
      for (const wake of woken) wake()
    },
    idle: () => (count === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  }
}
