/**
 * Backpressure: how many engagements the client holds at once. A caller beyond it waits, first
 * come first served, instead of growing memory without bound; a deadline turns the wait into a
 * clear "busy".
 */

/** Room for engagements, taken and given back. */
export interface Room {
  /** Resolves true once `count` fits (at most the whole room at once), false if `deadline` (epoch ms) passes first. */
  take(count: number, deadline: number): Promise<boolean>
  give(count: number): void
  /** Engagements held now. */
  readonly used: number
}

interface Waiter {
  count: number
  resolve: (taken: boolean) => void
  timer: unknown
}

/** Time and timers, injected. */
export interface RoomClock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export function createRoom(capacity: number, clock: RoomClock): Room {
  let used = 0
  const waiting: Waiter[] = []

  const admit = () => {
    while (waiting.length > 0) {
      const first = waiting[0] as Waiter
      if (used + first.count > capacity) return
      waiting.shift()
      clock.clearTimeout(first.timer)
      used += first.count
      first.resolve(true)
    }
  }

  return {
    take(count, deadline) {
      const fits = Math.min(count, capacity)
      if (waiting.length === 0 && used + fits <= capacity) {
        used += fits
        return Promise.resolve(true)
      }
      return new Promise((resolve) => {
        const waiter: Waiter = { count: fits, resolve, timer: undefined }
        if (deadline !== Infinity) {
          waiter.timer = clock.setTimeout(
            () => {
              waiting.splice(waiting.indexOf(waiter), 1)
              resolve(false)
              // The first in line may have been this one: the next may fit now.
              admit()
            },
            Math.max(0, deadline - clock.now()),
          )
        }
        waiting.push(waiter)
      })
    },
    give(count) {
      used -= Math.min(count, capacity)
      admit()
    },
    get used() {
      return used
    },
  }
}
