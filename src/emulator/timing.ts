import type { Sleep } from './types.js'

/** The default {@link Sleep}: a `setTimeout` that is cleared when `signal` aborts, so nothing outlives an abort. */
export const sleepWithTimer: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })

/**
 * Never settles until `signal` aborts, then rejects with its reason. No timer is involved: a
 * request that is never aborted is only a pending promise, collected with its request.
 */
export function waitForAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}
