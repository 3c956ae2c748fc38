import type { ResolvedOptions } from './options.js'
import type { TrackerEvent } from './types.js'

/** Hands events to subscribers, `onError` and, in debug mode, the console. */
export interface Emitter {
  emit(event: TrackerEvent): void
  subscribe(listener: (event: TrackerEvent) => void): () => void
}

const PREFIX = '[conversion-engagements]'

export function createEmitter({ debug, onError, platform }: ResolvedOptions): Emitter {
  const listeners = new Set<(event: TrackerEvent) => void>()
  const { console } = platform
  return {
    emit(event) {
      if (event.type === 'error') {
        const { code, message } = event.error
        // These need a person's attention even without debug mode.
        if (code === 'halted') console.error(PREFIX, message)
        else if (code === 'storage') console.warn(PREFIX, message)
        else if (debug) console.warn(PREFIX, message)
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

/** A listener's bug must not break the tracker or the page. */
function guard(call: () => void): void {
  try {
    call()
  } catch {
    // Deliberately ignored.
  }
}
