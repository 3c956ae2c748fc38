import type { ErrorBody } from '../contract.js'

/** A JSON answer; `no-store` because every answer describes a moment of a changing state. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

/** An error answer in Conversion's shape: `{"message": "..."}`. */
export function errorResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { message }
  return jsonResponse(status, body, headers)
}

/** Whether a `Content-Type` header names JSON (`application/json`, parameters allowed). */
export function isJsonContentType(header: string | null): boolean {
  return header !== null && /^application\/json\s*(;|$)/i.test(header.trim())
}
