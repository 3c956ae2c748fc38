import type { ResolvedOptions } from './options.js'
import type { TrackerEvent, TrackerStats } from './types.js'

/** Hands events to subscribers, `onError` and, in debug mode, the console; counts what became of engagements. */
export interface Emitter {
  /** `loud`: an error that needs a person's attention, printed even without debug mode. */
  emit(event: TrackerEvent, loud?: boolean): void
  subscribe(listener: (event: TrackerEvent) => void): () => void
  /** Engagements sent, retried, rejected and dropped since the page loaded, for `stats()`. */
  readonly counters: Pick<TrackerStats, 'sent' | 'retried' | 'rejected' | 'dropped'>
  /** Whether anyone hears events other than errors (a subscriber, or the console in debug mode): if not, they need not be made. */
  readonly listening: boolean
}

/** What starts every line the tracker writes to the console. */
export const LOG_PREFIX = '[conversion-engagements]'

export function createEmitter({ debug, onError, platform: { console } }: ResolvedOptions): Emitter {
  const listeners = new Set<(event: TrackerEvent) => void>()
  const counters = { sent: 0, retried: 0, rejected: 0, dropped: 0 }
  return {
    counters,
    get listening() {
      return debug || listeners.size > 0
    },
    emit(event, loud) {
      const { type } = event
      if (type in counters) counters[type as keyof typeof counters] += 'ids' in event ? event.ids.length : 1
      if (type === 'error') {
        const { code, message } = event.error
        // These need a person's attention even without debug mode.
        if (code === 'halted') console.error(LOG_PREFIX, message)
        else if (loud || debug || code === 'storage') console.warn(LOG_PREFIX, message)
        guard(onError, event.error)
      } else if (debug) console.debug(LOG_PREFIX, type, event)
      listeners.forEach((listener) => guard(listener, event))
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
  }
}

/** A listener's bug must not break the tracker or the page. */
function guard<T>(call: ((value: T) => void) | undefined, value: T): void {
  try {
    call?.(value)
  } catch {
    // Deliberately ignored.
  }
}
