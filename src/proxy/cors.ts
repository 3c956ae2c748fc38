/**
 * Cross-origin rules: only the customer's own origins may send, and the answer names the exact
 * origin (never `*`), with `Vary: Origin` so caches keep answers for different origins apart.
 */

/**
 * A test for allowed origins. Entries are exact origins (`https://app.example.com`) or one
 * leading wildcard label for subdomains (`https://*.example.com`, which does not match
 * `https://example.com` itself).
 */
export function originMatcher(allowed: readonly string[]): (origin: string) => boolean {
  const exact = new Set<string>()
  const suffixes: [scheme: string, suffix: string][] = []
  for (const entry of allowed) {
    const wildcard = /^(https?:\/\/)\*(\.[^*/]+)$/.exec(entry)
    if (wildcard) suffixes.push([wildcard[1] as string, wildcard[2] as string])
    else exact.add(entry.replace(/\/$/, ''))
  }
  return (origin) =>
    exact.has(origin) ||
    suffixes.some(([scheme, suffix]) => origin.startsWith(scheme) && origin.endsWith(suffix) && !origin.slice(scheme.length, -suffix.length).includes('/'))
}

/** Headers of every answer to an allowed origin. */
export function corsHeaders(origin: string): Record<string, string> {
  return { 'access-control-allow-origin': origin, vary: 'Origin' }
}

/** The answer to a preflight from an allowed origin: POST with a JSON body, cached for a day. */
export function preflight(origin: string): Response {
  return new Response(null, {
    status: 204,
    headers: {
      ...corsHeaders(origin),
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '86400',
    },
  })
}
