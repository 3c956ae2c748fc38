import { createTracker } from '../../src/tracker/tracker.js'
import type { Platform, TrackerOptions } from '../../src/tracker/options.js'
import type { Tracker, TrackerEvent } from '../../src/tracker/types.js'
import { FakeClock } from './clock.js'
import { FakeOrigin, FakePage, settle } from './platform.js'
import { FakeProxy } from './proxy.js'

export const ENDPOINT = 'https://proxy.test/engagements'

export interface Tab {
  tracker: Tracker
  page: FakePage
  events: TrackerEvent[]
  /** Events of one type, typed. */
  of<T extends TrackerEvent['type']>(type: T): Extract<TrackerEvent, { type: T }>[]
}

/** A browser "origin" in Node: shared clock, storage, locks and proxy, with tabs opened on demand. */
export class World {
  clock = new FakeClock(undefined, settle)
  origin = new FakeOrigin()
  proxy = new FakeProxy(this.clock)

  /** Moves time in small steps until `predicate` holds; fails after `maxMs` of simulated time. */
  async runUntil(predicate: () => boolean | Promise<boolean>, maxMs = 600_000, stepMs = 100): Promise<void> {
    for (let elapsed = 0; elapsed <= maxMs; elapsed += stepMs) {
      if (await predicate()) return
      await this.clock.advance(stepMs)
    }
    throw new Error(`not reached within ${maxMs} ms of simulated time`)
  }

  async open(options: Partial<TrackerOptions> = {}, platform: Partial<Platform> = {}): Promise<Tab> {
    const page = new FakePage(this.clock, this.origin, this.proxy.fetch)
    const tracker = createTracker({ endpoint: ENDPOINT, ...options, platform: page.platform(platform) })
    const events: TrackerEvent[] = []
    tracker.subscribe((event) => events.push(event))
    await settle()
    return {
      tracker,
      page,
      events,
      of: <T extends TrackerEvent['type']>(type: T) =>
        events.filter((event): event is Extract<TrackerEvent, { type: T }> => event.type === type),
    }
  }
}

export const demo = (i: number) => ({ type: 'PRODUCT_ACTIVITY', name: `Step ${i}`, data: { step: i } })
