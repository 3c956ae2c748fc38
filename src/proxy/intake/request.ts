/**
 * The client request body, read in one linear pass over its text: the whole text's syntax is
 * checked (it is accepted exactly when `JSON.parse` accepts it), the body's shape is judged as
 * `clientRequestSchema` judges the parsed value (same messages), and each engagement's fields
 * are decoded and checked, except `data`, whose place in the text is kept for `checkData`.
 * Nothing is built beyond the fields and the identity map: no object tree of the client's text.
 */
import { atMost, CLIENT_REQUEST_SHAPE, formatPath, LIMITS, notEmpty, type Problem } from '../../contract.js'
import { CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './characters.js'
import { Cursor, NotJson } from './cursor.js'
import { FieldChecks } from './fields.js'
import { arrayIndex, readItem, type ReadItem } from './item.js'

export type { ReadItem } from './item.js'

/** A client request read: its items and identity map, or why the body is refused (a 400). */
export type ReadRequest = { ok: true; items: ReadItem[]; identity: ReadonlyMap<string, string> } | { ok: false; message: string }

/** The proxy's answer to a body that is not JSON; the parser's own message would quote the body back. */
export const NOT_JSON_MESSAGE = 'request body must be JSON: it could not be parsed'

/** What was read of a body: the last `batch` and `identity` win, as in `JSON.parse`. */
interface Body {
  isObject: boolean
  batch: { items: ReadItem[]; count: number } | 'absent' | 'not-an-array'
  identity: Map<string, string | null> | 'absent' | 'not-an-object'
}

/**
 * Reads a client request body (`{"batch":[...],"identity":{...}}`) in one linear pass; syntax
 * checked fully, data's rules not yet. `checks` may be shared by the bodies a proxy reads one
 * after the other: their items, too, repeat contacts and types.
 */
export function readClientRequest(text: string, checks: FieldChecks = new FieldChecks()): ReadRequest {
  const cursor = new Cursor(text)
  let body: Body
  try {
    body = readBody(cursor, checks)
    cursor.space()
    if (cursor.at < text.length) cursor.fail()
  } catch (error) {
    if (error instanceof NotJson) return { ok: false, message: NOT_JSON_MESSAGE }
    throw error
  }
  return judge(body)
}

function readBody(cursor: Cursor, checks: FieldChecks): Body {
  const body: Body = { isObject: false, batch: 'absent', identity: 'absent' }
  if (cursor.space() !== OPEN_BRACE) {
    cursor.skipValue()
    return body
  }
  body.isObject = true
  readMembers(cursor, (key, code) => {
    if (key === 'batch') body.batch = code === OPEN_BRACKET ? readBatch(cursor, checks) : skipped(cursor, 'not-an-array')
    else if (key === 'identity') body.identity = code === OPEN_BRACE ? readIdentity(cursor) : skipped(cursor, 'not-an-object')
    else cursor.skipValue()
  })
  return body
}

/**
 * Reads the members of the object at the cursor (on its brace), calling `onMember` with each
 * decoded key and the first character of its value, with the cursor on that value. `onMember`
 * must move the cursor past the value.
 */
function readMembers(cursor: Cursor, onMember: (key: string, code: number) => void): void {
  cursor.at++
  if (cursor.space() === CLOSE_BRACE) {
    cursor.at++
    return
  }
  for (;;) {
    if (cursor.space() !== QUOTE) cursor.fail()
    const key = cursor.string()
    cursor.expect(COLON)
    onMember(key, cursor.space())
    const next = cursor.space()
    cursor.at++
    if (next === CLOSE_BRACE) return
    if (next !== COMMA) cursor.failAt(cursor.at - 1)
  }
}

function skipped<T>(cursor: Cursor, verdict: T): T {
  cursor.skipValue()
  return verdict
}

function readBatch(cursor: Cursor, checks: FieldChecks): { items: ReadItem[]; count: number } {
  const items: ReadItem[] = []
  let count = 0
  cursor.at++
  if (cursor.space() === CLOSE_BRACKET) {
    cursor.at++
    return { items, count }
  }
  for (;;) {
    // Items past the cap are only skipped: the request is refused as a whole.
    if (count < LIMITS.batchSize) items.push(readItem(cursor, count, checks))
    else cursor.skipValue()
    count++
    const next = cursor.space()
    cursor.at++
    if (next === CLOSE_BRACKET) return { items, count }
    if (next !== COMMA) cursor.failAt(cursor.at - 1)
  }
}

/** The identity map; a non-string value is kept as null, for judge() to name. */
function readIdentity(cursor: Cursor): Map<string, string | null> {
  const identity = new Map<string, string | null>()
  readMembers(cursor, (key, code) => {
    const signature = code === QUOTE ? cursor.string() : skipped(cursor, null)
    // zod leaves `__proto__` out of a record, unchecked; so does this reader.
    if (key !== '__proto__') identity.set(key, signature)
  })
  return identity
}

/** The body's first broken rule in `clientRequestSchema`'s order and words, or the request. */
function judge(body: Body): ReadRequest {
  const refuse = (path: string[], problem: Pick<Problem, 'message'>): ReadRequest => ({
    ok: false,
    message: `${formatPath(path)} ${problem.message}`,
  })
  const mustBe = (what: string) => ({ message: `must be ${what}` })
  if (!body.isObject) return refuse(['body'], mustBe(CLIENT_REQUEST_SHAPE.body))
  const { batch, identity } = body
  if (batch === 'absent') return refuse(['batch'], { message: 'is required' })
  if (batch === 'not-an-array') return refuse(['batch'], mustBe(CLIENT_REQUEST_SHAPE.batch))
  if (batch.count === 0) return refuse(['batch'], { message: CLIENT_REQUEST_SHAPE.emptyBatch })
  const tooMany = atMost(LIMITS.batchSize, 'engagements')({ length: batch.count } as never)
  if (tooMany) return refuse(['batch'], tooMany)
  if (identity === 'not-an-object') return refuse(['identity'], mustBe(CLIENT_REQUEST_SHAPE.identity))
  if (identity === 'absent') return { ok: true, items: batch.items, identity: new Map() }
  const broken = firstBrokenSignature(identity)
  if (broken) return refuse(['identity', broken.key], broken.problem)
  return { ok: true, items: batch.items, identity: identity as Map<string, string> }
}

/** The identity entry zod would name first (integer-like keys first, ascending), and its problem. */
function firstBrokenSignature(identity: Map<string, string | null>): { key: string; problem: Pick<Problem, 'message'> } | undefined {
  const tooLong = atMost(LIMITS.signatureLength)
  let found: { key: string; problem: Pick<Problem, 'message'>; index: number | undefined } | undefined
  for (const [key, signature] of identity) {
    const index = arrayIndex(key)
    // A named key never comes before one already found; an integer-like key may.
    if (found && (index === undefined || (found.index !== undefined && found.index < index))) continue
    const problem = signature === null ? { message: 'must be a string' } : (notEmpty(signature as never) ?? tooLong(signature as never))
    if (problem) found = { key, problem, index }
  }
  return found
}
