/**
 * Reading a request body without trusting what it says about itself: the one reader of the proxy
 * and the emulator. Web Streams only, so it runs wherever `Request` does; a host that reads its
 * bodies another way (Node's `IncomingMessage`) gives the same answers with the helpers below.
 */

/** A request body read as text, or why it could not be (408: a host's deadline for the body passed). */
export type BodyText = { ok: true; text: string; bytes: number } | { ok: false; status: 400 | 408 | 413; message: string; bytes: number }

/**
 * Reads the body as UTF-8 text, refusing more than `maxBytes`. A declared `Content-Length`
 * above the cap is refused before reading; an undeclared one is counted while streaming, so an
 * oversized body is never held in memory whole.
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<BodyText> {
  const declared = declaredLength(request)
  if (declared !== undefined && declared > maxBytes) return bodyTooLarge(maxBytes, declared)
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
        return bodyTooLarge(maxBytes, bytes)
      }
      chunks.push(value)
    }
  } catch {
    return bodyUnread(bytes)
  }
  return decodeBody(concat(chunks, bytes))
}

/** The `Content-Length` a request declares, when it declares a valid one. */
export function declaredLength(request: Request): number | undefined {
  return lengthOf(request.headers.get('content-length'))
}

/** The length a `Content-Length` value declares, when it is a valid one. */
export function lengthOf(header: string | null | undefined): number | undefined {
  return header != null && /^\d+$/.test(header) ? Number(header) : undefined
}

/** The answer to a body of `bytes` (declared or counted so far) beyond `maxBytes`. */
export function bodyTooLarge(maxBytes: number, bytes: number): BodyText {
  return { ok: false, status: 413, message: `request body must be at most ${maxBytes} bytes`, bytes }
}

/** The answer to a body that stopped before its end: the client went away, or sent a broken chunked body. */
export function bodyUnread(bytes: number): BodyText {
  return { ok: false, status: 400, message: 'request body could not be read to the end', bytes }
}

// Made at the first body, not at import; it decodes whole bodies only (no `stream` option), so one serves every call.
let utf8: TextDecoder | undefined

/** The body's bytes as text: UTF-8, a leading byte order mark dropped, anything else refused. */
export function decodeBody(body: Uint8Array): BodyText {
  try {
    return { ok: true, text: (utf8 ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })).decode(body), bytes: body.byteLength }
  } catch {
    return { ok: false, status: 400, message: 'request body must be UTF-8 text', bytes: body.byteLength }
  }
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
