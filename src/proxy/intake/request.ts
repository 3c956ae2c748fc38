/**
 * The client request body, read in one linear pass over its text: the whole text's syntax is
 * checked (it is accepted exactly when `JSON.parse` accepts it), the body's shape is judged as
 * `clientRequestSchema` judges the parsed value (same messages), and each engagement's fields
 * are decoded and checked, except `data`, whose place in the text is kept for `checkData`.
 * Nothing is built beyond the fields and the identity map: no object tree of the client's text.
 */
import { atMost, checkEngagement, CLIENT_REQUEST_SHAPE, formatPath, LIMITS, notEmpty, type Problem, type RuleViolation } from '../../contract.js'
import { CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './characters.js'
import { Cursor, NotJson } from './cursor.js'

/** One item of `batch`, read without building its data. */
export interface ReadItem {
  /** Its position in `batch`. */
  index: number
  /** The id to report a problem under: its own when it is a string of 1 to 128 characters, else `batch[<index>]`. */
  reportId: string
  /** The first broken rule among the item's shape and fields other than `data`; undefined when none. */
  violation: RuleViolation | undefined
  /** The fields other than data, decoded (meaningful only when `violation` is undefined). */
  fields: { id: string; contactEmail: string; type: string; name?: string; description?: string; createdAt: string }
  /** Where the value of `data` lies in the text, [start, end), when present. */
  data: { start: number; end: number } | undefined
}

/** A client request read: its items and identity map, or why the body is refused (a 400). */
export type ReadRequest =
  | { ok: true; items: ReadItem[]; identity: ReadonlyMap<string, string> }
  | { ok: false; message: string }

/** The proxy's answer to a body that is not JSON; the parser's own message would quote the body back. */
export const NOT_JSON_MESSAGE = 'request body must be JSON: it could not be parsed'

const STRING_FIELDS = new Set(['id', 'contactEmail', 'type', 'name', 'description', 'createdAt'])
// Stands for `data` in the fields given to checkEngagement: data's own rules come later, from its text.
const DATA_PLACEHOLDER = Object.freeze({})
// Where a non-string value stood for a string field: checkEngagement says it must be a string.
const NOT_A_STRING = null

/** What was read of a body: the last `batch` and `identity` win, as in `JSON.parse`. */
interface Body {
  isObject: boolean
  batch: { items: ReadItem[]; count: number } | 'absent' | 'not-an-array'
  identity: Map<string, string | null> | 'absent' | 'not-an-object'
}

/** Reads a client request body (`{"batch":[...],"identity":{...}}`) in one linear pass; syntax checked fully, data's rules not yet. */
export function readClientRequest(text: string): ReadRequest {
  const cursor = new Cursor(text)
  let body: Body
  try {
    body = readBody(cursor)
    cursor.space()
    if (cursor.at < text.length) cursor.fail()
  } catch (error) {
    if (error instanceof NotJson) return { ok: false, message: NOT_JSON_MESSAGE }
    throw error
  }
  return judge(body)
}

function readBody(cursor: Cursor): Body {
  const body: Body = { isObject: false, batch: 'absent', identity: 'absent' }
  if (cursor.space() !== OPEN_BRACE) {
    cursor.skipValue()
    return body
  }
  body.isObject = true
  readMembers(cursor, (key, code) => {
    if (key === 'batch') body.batch = code === OPEN_BRACKET ? readBatch(cursor) : skipped(cursor, 'not-an-array')
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

function readBatch(cursor: Cursor): { items: ReadItem[]; count: number } {
  const items: ReadItem[] = []
  let count = 0
  cursor.at++
  if (cursor.space() === CLOSE_BRACKET) {
    cursor.at++
    return { items, count }
  }
  for (;;) {
    // Items past the cap are only skipped: the request is refused as a whole.
    if (count < LIMITS.batchSize) items.push(readItem(cursor, count))
    else cursor.skipValue()
    count++
    const next = cursor.space()
    cursor.at++
    if (next === CLOSE_BRACKET) return { items, count }
    if (next !== COMMA) cursor.failAt(cursor.at - 1)
  }
}

function readItem(cursor: Cursor, index: number): ReadItem {
  const fallbackId = `batch[${index}]`
  if (cursor.space() !== OPEN_BRACE) {
    cursor.skipValue()
    return { index, reportId: fallbackId, violation: checkEngagement(null), fields: {} as ReadItem['fields'], data: undefined }
  }
  // The fields as checkEngagement sees them. No prototype, so any key (even `__proto__`) is an own field.
  const seen = Object.create(null) as Record<string, unknown>
  let data: ReadItem['data']
  const unknown = new FirstUnknownKey()
  readMembers(cursor, (key, code) => {
    if (STRING_FIELDS.has(key)) seen[key] = code === QUOTE ? cursor.string() : skipped(cursor, NOT_A_STRING)
    else if (key === 'data') {
      const start = cursor.at
      cursor.skipValue()
      data = { start, end: cursor.at }
      seen[key] = DATA_PLACEHOLDER
    } else {
      unknown.add(key)
      cursor.skipValue()
    }
  })
  unknown.addTo(seen)
  const id = seen['id']
  const reportId = typeof id === 'string' && id.length >= 1 && id.length <= LIMITS.idLength ? id : fallbackId
  const { data: _, ...fields } = seen
  return { index, reportId, violation: checkEngagement(seen), fields: fields as ReadItem['fields'], data }
}

/**
 * Of an item's unknown keys, the one checkEngagement names first: JavaScript lists integer-like
 * keys first, in ascending order, then the others in the order they came. Only that one is kept.
 */
class FirstUnknownKey {
  private smallestIndex: number | undefined
  private firstName: string | undefined

  add(key: string): void {
    const index = arrayIndex(key)
    if (index === undefined) this.firstName ??= key
    else if (this.smallestIndex === undefined || index < this.smallestIndex) this.smallestIndex = index
  }

  addTo(fields: Record<string, unknown>): void {
    if (this.smallestIndex !== undefined) fields[String(this.smallestIndex)] = 0
    if (this.firstName !== undefined) fields[this.firstName] = 0
  }
}

/** The array index `key` spells (a canonical integer below 2^32 - 1), or undefined. */
function arrayIndex(key: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,9})$/.test(key)) return undefined
  const index = Number(key)
  return index < 4_294_967_295 ? index : undefined
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
  const refuse = (path: string[], problem: Pick<Problem, 'message'>): ReadRequest => ({ ok: false, message: `${formatPath(path)} ${problem.message}` })
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
