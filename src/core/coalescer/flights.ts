/** The upstream requests awaiting their answer: what each carries, when it started, and why it was sent. */
import type { Entry } from './entry.js'
import type { Formed } from './scheduler.js'

export interface Flight extends Formed {
  startedAt: number
}

export class Flights {
  private readonly flying = new Map<number, Flight>()
  private last = 0

  /** Engagements in requests awaiting their answer. */
  get engagements(): number {
    let count = 0
    for (const flight of this.flying.values()) count += flight.entries.length
    return count
  }

  get requests(): number {
    return this.flying.size
  }

  /**
   * Records a request leaving now; returns its number. An isolation request is charged to its
   * client request's budget, which it marks as awaiting one.
   */
  depart(formed: Formed, now: number): number {
    const request = ++this.last
    this.flying.set(request, { ...formed, startedAt: now })
    if (formed.isolation) {
      const { budget } = formed.entries[0] as Entry
      budget.left--
      budget.flying = true
    }
    return request
  }

  /** The request whose answer came, no longer awaited; undefined when unknown (answered twice). */
  land(request: number): Flight | undefined {
    const flight = this.flying.get(request)
    if (!flight) return undefined
    this.flying.delete(request)
    if (flight.isolation) (flight.entries[0] as Entry).budget.flying = false
    return flight
  }
}
