/** Upstream requests that a stop at once cuts off. */

/**
 * `send`, whose requests still out are aborted once `cutOff` aborts (a proxy stopped at once, an
 * import given up), as their own signal (the upstream timeout) would abort them, so that none
 * outlives the stop. Combined by hand rather than with `AbortSignal.any`, which keeps every
 * signal it makes from a long-lived one alive in some Node versions.
 */
export function cutOffBy(send: typeof fetch, cutOff: AbortSignal): typeof fetch {
  return async (input, init) => {
    if (cutOff.aborted) throw cutOff.reason
    const own = init?.signal ?? undefined
    const both = new AbortController()
    // Stays while the answer's body is read; it goes with the request.
    own?.addEventListener('abort', () => both.abort(own.reason), { once: true })
    if (own?.aborted) both.abort(own.reason)
    const onCutOff = () => both.abort(cutOff.reason)
    cutOff.addEventListener('abort', onCutOff, { once: true })
    try {
      return await send(input, { ...init, signal: both.signal })
    } finally {
      // Removed once the head came: the stop signal lives as long as its server or import, its listeners must not pile up.
      cutOff.removeEventListener('abort', onCutOff)
    }
  }
}
