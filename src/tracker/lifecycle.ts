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
export function watchLifecycle(platform: Platform, handlers: LifecycleHandlers): () => void {
  const { window, document } = platform
  const onVisibility = () => {
    if (document.visibilityState === 'hidden') handlers.hide()
  }
  const onPageHide = () => {
    handlers.hide()
    handlers.suspend()
  }
  const onPageShow = (event: Event) => {
    if ((event as PageTransitionEvent).persisted) handlers.resume()
  }
  const listeners: [EventTarget, string, (event: Event) => void][] = [
    [document, 'visibilitychange', onVisibility],
    [window, 'pagehide', onPageHide],
    [window, 'pageshow', onPageShow],
    [document, 'freeze', handlers.suspend],
    [document, 'resume', handlers.resume],
    [window, 'online', handlers.online],
  ]
  for (const [target, type, listener] of listeners) target.addEventListener(type, listener)
  return () => {
    for (const [target, type, listener] of listeners) target.removeEventListener(type, listener)
  }
}
