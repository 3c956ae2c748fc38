import type { Platform } from './options.js'

/** What the tracker does when the page's life changes. */
export interface LifecycleHandlers {
  /** The page was hidden or is being left: last chance to hand data to the browser. */
  hide(): void
  /** The page is leaving, perhaps into the back/forward cache, or is being frozen. */
  suspend(): void
  /** The page came back from the back/forward cache or from being frozen. */
  resume(): void
  online(): void
}

/**
 * Listens for `visibilitychange`, `pagehide`, `pageshow`, `freeze`, `resume` and `online`.
 * Never `unload` or `beforeunload`: they break the back/forward cache and are unreliable on
 * mobile. Returns the function that stops listening.
 */
export function watchLifecycle({ window, document }: Platform, handlers: LifecycleHandlers): () => void {
  const listeners: [EventTarget, string, (event: Event) => unknown][] = [
    [document, 'visibilitychange', () => document.visibilityState === 'hidden' && handlers.hide()],
    [
      window,
      'pagehide',
      () => {
        handlers.hide()
        handlers.suspend()
      },
    ],
    [window, 'pageshow', (event) => (event as PageTransitionEvent).persisted && handlers.resume()],
    [document, 'freeze', handlers.suspend],
    [document, 'resume', handlers.resume],
    [window, 'online', handlers.online],
  ]
  const each = (method: 'addEventListener' | 'removeEventListener') =>
    listeners.forEach(([target, type, listener]) => target[method](type, listener))
  each('addEventListener')
  return () => each('removeEventListener')
}
