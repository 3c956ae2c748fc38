/**
 * The script-tag build: replaces the snippet's queueing stub with the real `window.conversion`,
 * replays what the page called before this script loaded, and reads `data-*` configuration
 * from its own `<script>` element. This file is a program, not a library: it runs when loaded.
 */
import { LOG_PREFIX } from './tracker/events.js'
import { browserPlatform } from './tracker/platform.js'
import { startTracker } from './tracker/tracker.js'
import type { Platform, TrackerOptions } from './tracker/options.js'
import type { Tracker } from './tracker/types.js'

/** `conversion('track', {...})`, `conversion('identify', email)`, ... */
export interface ConversionCommand {
  (method: 'init', options: TrackerOptions): void
  <M extends keyof Tracker>(method: M, ...args: Parameters<Tracker[M]>): ReturnType<Tracker[M]> | undefined
  /** Calls made before the script loaded: `arguments` objects, or `[arguments, epochMs]`. */
  q?: ArrayLike<unknown>[]
  /** Set once the script has loaded, so loading it twice is harmless. */
  loaded?: true
}

declare global {
  interface Window {
    conversion?: ConversionCommand
  }
}

/** A call and when it was made (epoch ms), if it waited for the script. */
type Call = [args: ArrayLike<unknown>, at?: number]

function install(): void {
  if (typeof window === 'undefined' || window.conversion?.loaded) return
  const attributes = (document.currentScript as HTMLScriptElement | null)?.dataset ?? {}
  // An empty attribute says nothing (but `data-debug`, present or not; an empty endpoint is as
  // missing as none); later `init` options win over these.
  const fromAttributes = {
    endpoint: attributes.endpoint,
    name: attributes.name || undefined,
    debug: 'debug' in attributes,
  }

  // The snippet pushes `[arguments, Date.now()]`; a bare `arguments` has no time.
  const earlier = Array.from(
    window.conversion?.q ?? [],
    (item): Call => (typeof item[0] === 'object' && item[0] ? (item as unknown as Call) : [item]),
  )
  let tracker: Tracker | undefined
  const pending: Call[] = []

  const start = (options: Partial<TrackerOptions>) => {
    try {
      tracker = startTracker({ ...fromAttributes, ...options } as TrackerOptions, browserPlatform() as Platform)
    } catch (error) {
      // The error itself: the console shows its kind, its message and where it came from.
      return console.error(LOG_PREFIX, error)
    }
    pending.splice(0).forEach(run)
  }

  const run = ([args, at]: Call): unknown => {
    // `arguments` objects are iterable.
    const [method, ...rest] = args as unknown[]
    if (method === 'init') {
      if (tracker) console.warn(LOG_PREFIX, 'init ignored: already initialized')
      else start(rest[0] as Partial<TrackerOptions>)
    } else if (!tracker) {
      pending.push([args, at ?? Date.now()])
    } else {
      const command = tracker[method as keyof Tracker] as ((...args: unknown[]) => unknown) | undefined
      if (typeof command !== 'function') return console.error(LOG_PREFIX, `unknown command ${JSON.stringify(method)}`)
      const input = rest[0] as Record<string, unknown> | undefined
      // A call that waited for the script keeps the time it was made.
      if (method === 'track' && at && input && typeof input === 'object' && input.createdAt === undefined) {
        rest[0] = { ...input, createdAt: at }
      }
      return command(...rest)
    }
    return undefined
  }

  const conversion = ((...args: unknown[]) => run([args])) as ConversionCommand
  conversion.loaded = true
  window.conversion = conversion
  // An `init` among the early calls decides the options; otherwise the attributes may suffice.
  if (fromAttributes.endpoint && !earlier.some(([args]) => args[0] === 'init')) start({})
  earlier.forEach(run)
}

install()
