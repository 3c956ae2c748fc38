/**
 * Reading a request body without trusting what it says about itself: the one reader of the proxy
 * and the emulator. Web Streams only, so it runs wherever `Request` does.
 */

/** A request body read as text, or why it could not be. */
export type BodyText =
  | { ok: true; text: string; bytes: number }
  | { ok: false; status: 400 | 413; message: string; bytes: number }

/**
 * Reads the body as UTF-8 text, refusing more than `maxBytes`. A declared `Content-Length`
 * above the cap is refused before reading; an undeclared one is counted while streaming, so an
 * oversized body is never held in memory whole.
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<BodyText> {
  const tooLarge = (bytes: number): BodyText => ({
    ok: false,
    status: 413,
    message: `request body must be at most ${maxBytes} bytes`,
    bytes,
  })
  const declared = declaredLength(request)
  if (declared !== undefined && declared > maxBytes) {
    return tooLarge(declared)
  }
  if (!request.body) return { ok: true, text: '', bytes: 0 }

  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let bytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      bytes += value.byteLength
      if (bytes > maxBytes) {
        await reader.cancel()
        return tooLarge(bytes)
      }
      chunks.push(value)
    }
  } catch {
    // The client went away, or sent a broken chunked body.
    return { ok: false, status: 400, message: 'request body could not be read to the end', bytes }
  }
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(concat(chunks, bytes)), bytes }
  } catch {
    return { ok: false, status: 400, message: 'request body must be UTF-8 text', bytes }
  }
}

/** The `Content-Length` a request declares, when it declares a valid one. */
export function declaredLength(request: Request): number | undefined {
  const header = request.headers.get('content-length')
  return header !== null && /^\d+$/.test(header) ? Number(header) : undefined
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const joined = new Uint8Array(bytes)
  let offset = 0
  for (const chunk of chunks) {
    joined.set(chunk, offset)
    offset += chunk.byteLength
  }
  return joined
}
