/**
 * A check of a presented API key against the expected one whose comparison takes the same time
 * for every presented key, so timing reveals neither a matching prefix nor the key's length: the
 * loop always runs over the expected key's bytes, and the content decides nothing but the final
 * bit. It is synchronous on purpose (WebCrypto digests are async), so the rate check that
 * follows still happens in arrival order.
 */
export function createKeyCheck(expected: string): (presented: string) => boolean {
  const encoder = new TextEncoder()
  const expectedBytes = encoder.encode(expected)
  return (presented) => {
    const presentedBytes = encoder.encode(presented)
    let difference = presentedBytes.length ^ expectedBytes.length
    for (let i = 0; i < expectedBytes.length; i++) {
      difference |= (expectedBytes[i] as number) ^ (presentedBytes[i] ?? 0)
    }
    return difference === 0
  }
}

/** Replaces every occurrence of `secret` in `text`, so a key a client misplaced is never echoed. */
export function createRedactor(secret: string): (text: string) => string {
  const forms = [...new Set([secret, encodeURIComponent(secret)])]
  return (text) => forms.reduce((out, form) => out.split(form).join('[redacted]'), text)
}
