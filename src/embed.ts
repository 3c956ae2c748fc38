/**
 * The script-tag build: replaces the snippet's queueing stub with the real `window.conversion`,
 * replays what the page called before this script loaded, and reads `data-*` configuration
 * from its own `<script>` element. This file is a program, not a library: it runs when loaded.
 */
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

type Call = { args: ArrayLike<unknown>; at: number | undefined }

const PREFIX = '[conversion-engagements]'

function install(): void {
  if (typeof window === 'undefined' || window.conversion?.loaded) return
  const script = document.currentScript as HTMLScriptElement | null
  const fromAttributes: Partial<TrackerOptions> = {}
  if (script?.dataset.endpoint) fromAttributes.endpoint = script.dataset.endpoint
  if (script?.dataset.name) fromAttributes.name = script.dataset.name
  if (script && 'debug' in script.dataset) fromAttributes.debug = true

  const earlier: Call[] = Array.from(window.conversion?.q ?? [], (item) =>
    // The snippet pushes `[arguments, Date.now()]`; a bare `arguments` has no time.
    typeof item[0] === 'object' && item[0] !== null
      ? { args: item[0] as ArrayLike<unknown>, at: item[1] as number }
      : { args: item, at: undefined },
  )
  let tracker: Tracker | undefined
  const pending: Call[] = []

  const start = (options: Partial<TrackerOptions>) => {
    try {
      tracker = startTracker({ ...fromAttributes, ...options } as TrackerOptions, browserPlatform() as Platform)
    } catch (error) {
      console.error(PREFIX, error instanceof Error ? error.message : error)
      return
    }
    for (const call of pending.splice(0)) run(call)
  }

  const run = ({ args, at }: Call): unknown => {
    const [method, ...rest] = Array.from(args)
    if (method === 'init') {
      if (tracker) console.warn(PREFIX, 'already initialized; this init was ignored')
      else start(rest[0] as Partial<TrackerOptions>)
      return undefined
    }
    if (!tracker) {
      pending.push({ args, at: at ?? Date.now() })
      return undefined
    }
    const command = tracker[method as keyof Tracker] as ((...args: unknown[]) => unknown) | undefined
    if (typeof command !== 'function') {
      console.error(PREFIX, `unknown command ${JSON.stringify(method)}`)
      return undefined
    }
    const input = rest[0] as Record<string, unknown> | undefined
    // A call that waited for the script keeps the time it was made.
    if (method === 'track' && at !== undefined && input && typeof input === 'object' && input['createdAt'] === undefined) {
      rest[0] = { ...input, createdAt: at }
    }
    return command(...rest)
  }

  const conversion = ((...args: unknown[]) => run({ args, at: undefined })) as ConversionCommand
  conversion.loaded = true
  window.conversion = conversion
  // An `init` among the early calls decides the options; otherwise the attributes may suffice.
  if (fromAttributes.endpoint && !earlier.some((call) => call.args[0] === 'init')) start({})
  for (const call of earlier) run(call)
}

install()
