/**
 * Simulated time for every unit test: `now`, `setTimeout` and `clearTimeout` on a clock that
 * moves only when a test runs it, fast enough for property tests (no real waiting at all). What
 * runs between timers is the test's to say: promise chains by default, and the tracker's tests
 * also let fake IndexedDB's I/O run (`letRun`).
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

  constructor(
    start = Date.parse('2025-08-12T09:00:00Z'),
    /** Lets what is ready run, between timers: promise chains, and any I/O the test fakes. */
    private readonly letRun: () => Promise<void> = flushPromises,
  ) {
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
      await this.letRun()
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
    await this.letRun()
    for (let next = this.earliest(); next && next.at <= target; next = this.earliest()) {
      this.fire(next)
      await this.letRun()
    }
    this.time = target
    await this.letRun()
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

/** When a request started and when its answer came: the receiver got it at some moment in between. */
export type Flight = readonly [start: number, answer: number]

/**
 * The most requests a receiver can have seen inside one half-open window [t, t + `windowMs`),
 * when each request of `flights` may have reached it at any moment of its [start, answer] (the
 * network's worst placement). Flight i can be in the window at t iff start < t + windowMs and
 * answer >= t, so the count, as a function of t, only drops right after an answer: its maximum
 * is found at some answer. Every start and every answer is tried as t (the answers alone would
 * do). With every start equal to its answer, it counts starts in a sliding window.
 */
export function busiestReceiverWindow(flights: readonly Flight[], windowMs: number): number {
  let most = 0
  for (const t of flights.flat()) {
    let count = 0
    for (const [start, answer] of flights) if (start < t + windowMs && answer >= t) count++
    most = Math.max(most, count)
  }
  return most
}
