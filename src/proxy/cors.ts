/**
 * Cross-origin rules: only the customer's own origins may send, and the answer names the exact
 * origin (never `*`). Which origins those are is decided in `origins.ts`; this file says what
 * every answer carries.
 */
/**
 * Headers of EVERY answer, refusals and failures included. `Vary: Origin`: answers differ by
 * origin (a 403 for one, an allowed answer for another), so a cache must not hand one origin's
 * answer to another. `X-Content-Type-Options: nosniff`: a browser must never read a body as
 * anything but its declared type.
 */
export function baseHeaders(): Record<string, string> {
  return { vary: 'Origin', 'x-content-type-options': 'nosniff' }
}

/** Headers of every answer to an allowed origin: {@link baseHeaders} and the origin, as `matchOrigin` returned it. */
export function corsHeaders(origin: string): Record<string, string> {
  return { ...baseHeaders(), 'access-control-allow-origin': origin }
}

/**
 * The answer to a preflight from an allowed origin: POST with a JSON body. The browser keeps it
 * for `Access-Control-Max-Age` (a day; browsers may keep it less), which no `Cache-Control`
 * changes; `no-store` only keeps shared caches, some of which ignore `Vary`, from handing it to
 * another origin.
 */
export function preflight(origin: string): Response {
  return new Response(null, {
    status: 204,
    headers: {
      ...corsHeaders(origin),
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '86400',
      'cache-control': 'no-store',
    },
  })
}
