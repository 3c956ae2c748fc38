import type { ResolvedOptions } from './options.js'
import type { TrackerEvent } from './types.js'

/** Hands events to subscribers, `onError` and, in debug mode, the console. */
export interface Emitter {
  /** `loud`: an error that needs a person's attention, printed even without debug mode. */
  emit(event: TrackerEvent, loud?: boolean): void
  subscribe(listener: (event: TrackerEvent) => void): () => void
}

const PREFIX = '[conversion-engagements]'

export function createEmitter({ debug, onError, platform }: ResolvedOptions): Emitter {
  const listeners = new Set<(event: TrackerEvent) => void>()
  const { console } = platform
  return {
    emit(event, loud) {
      if (event.type === 'error') {
        const { code, message } = event.error
        // These need a person's attention even without debug mode.
        if (code === 'halted') console.error(PREFIX, message)
        else if (loud || debug || code === 'storage') console.warn(PREFIX, message)
        guard(() => onError?.(event.error))
      } else if (debug) {
        console.debug(PREFIX, event.type, event)
      }
      for (const listener of listeners) guard(() => listener(event))
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
  }
}

/** Engagements counted since the page loaded, by what became of them: for `stats()`. */
export function countOutcomes(subscribe: Emitter['subscribe']): { sent: number; retried: number; rejected: number; dropped: number } {
  const counters = { sent: 0, retried: 0, rejected: 0, dropped: 0 }
  subscribe((event) => {
    if (event.type === 'rejected') counters.rejected++
    else if (event.type === 'sent' || event.type === 'retried' || event.type === 'dropped') {
      counters[event.type] += event.ids.length
    }
  })
  return counters
}

/** A listener's bug must not break the tracker or the page. */
function guard(call: () => void): void {
  try {
    call()
  } catch {
    // Deliberately ignored.
  }
}
