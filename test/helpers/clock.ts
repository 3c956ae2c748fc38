/**
 * Simulated time for the pure core: `now`, `setTimeout` and `clearTimeout` on a clock that moves
 * only when a test runs it, fast enough for property tests (no real waiting at all).
 */

interface Timer {
  at: number
  seq: number
  callback: () => void
}

/** Lets every promise chain that is ready run to its end (Node drains microtasks before an immediate). */
export const flushPromises = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class FakeClock {
  private time: number
  private timers = new Set<Timer>()
  private seq = 0

  constructor(start = Date.parse('2025-08-12T09:00:00Z')) {
    this.time = start
  }

  now = (): number => this.time

  setTimeout = (callback: () => void, ms: number): unknown => {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, callback }
    this.timers.add(timer)
    return timer
  }

  clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as Timer)
  }

  /** A promise that resolves after `ms` of simulated time. */
  sleep = (ms: number): Promise<void> => new Promise((resolve) => this.setTimeout(resolve, ms))

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.timers.size
  }

  /** Fires timers in time order until `done()` holds; fails after `maxMs` of simulated time or `maxSteps` timers. */
  async runUntil(done: () => boolean, maxMs = 3_600_000, maxSteps = 100_000): Promise<void> {
    const limit = this.time + maxMs
    for (let step = 0; step < maxSteps; step++) {
      await flushPromises()
      if (done()) return
      const next = this.earliest()
      if (!next || next.at > limit) break
      this.fire(next)
    }
    throw new Error(`FakeClock: condition not reached (simulated ${this.time} ms, ${this.pending} timers pending)`)
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms
    await flushPromises()
    for (let next = this.earliest(); next && next.at <= target; next = this.earliest()) {
      this.fire(next)
      await flushPromises()
    }
    this.time = target
    await flushPromises()
  }

  private earliest(): Timer | undefined {
    let first: Timer | undefined
    for (const timer of this.timers) {
      if (!first || timer.at < first.at || (timer.at === first.at && timer.seq < first.seq)) first = timer
    }
    return first
  }

  private fire(timer: Timer): void {
    this.timers.delete(timer)
    this.time = Math.max(this.time, timer.at)
    timer.callback()
  }
}

/** The most of `times` (sorted ascending) inside any half-open window of `windowMs`, wherever it is placed. */
export function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0
  let first = 0
  times.forEach((time, last) => {
    while ((times[first] as number) <= time - windowMs) first++
    most = Math.max(most, last - first + 1)
  })
  return most
}
