/** Reading a request body without trusting what it says about itself. */

/** The body as text, or why it was refused. */
export type BodyResult = { ok: true; text: string } | { ok: false; status: 400 | 413; message: string }

/**
 * Reads the body, stopping as soon as it passes `maxBytes`: `Content-Length` is only a hint (it
 * can lie, or be absent with a chunked body), so the bytes are counted as they arrive.
 */
export async function readBody(request: Request, maxBytes: number): Promise<BodyResult> {
  const tooLarge = { ok: false, status: 413, message: `request body must be at most ${maxBytes} bytes` } as const
  const declared = Number(request.headers.get('content-length'))
  if (declared > maxBytes) return tooLarge
  if (!request.body) return { ok: false, status: 400, message: 'request body is empty: expected JSON' }
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) {
        await reader.cancel()
        return tooLarge
      }
      chunks.push(value)
    }
  } catch {
    return { ok: false, status: 400, message: 'request body could not be read to the end' }
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return { ok: true, text: new TextDecoder().decode(bytes) }
}
