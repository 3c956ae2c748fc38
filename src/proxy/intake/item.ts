/**
 * One item of a client request's `batch`, read in place: its fields other than `data` decoded,
 * where `data` lies, and its verdict under the contract's rules, as `checkEngagement` gives it
 * for the parsed item (same field, rule and message). Keys are recognized where they lie in the
 * text and no object is built for the item; its fields are checked by a `FieldChecks`, which
 * checks a value once when item after item repeats it (the contact, the type, often the time).
 */
import { checkEngagement, LIMITS, type RuleViolation } from '../../contract.js'
import { CLOSE_BRACE, COLON, COMMA, OPEN_BRACE, QUOTE } from './characters.js'
import type { Cursor } from './cursor.js'
import { decodeString } from './decode.js'
import type { FieldChecks, FieldName } from './fields.js'

/** The fields other than data, decoded; meaningful only when the item breaks no rule. */
export interface ItemFields {
  id: string
  contactEmail: string
  type: string
  name?: string | undefined
  description?: string | undefined
  createdAt: string
}

type StringField = Exclude<FieldName, 'data'>
const STRING_FIELDS: readonly string[] = ['id', 'contactEmail', 'type', 'name', 'description', 'createdAt'] satisfies StringField[]

/** A field's value as read: a string, NOT_A_STRING, or undefined when absent. */
type Read = string | null | undefined

/** Where a non-string value stood for a string field: the rules say it must be a string. */
const NOT_A_STRING = null
// Stands for `data` when the rules are checked: data's own rules come later, from its text.
const DATA_PLACEHOLDER = Object.freeze({})

/** The fields of one item as read, by name. */
export class ItemRead {
  id: Read = undefined
  contactEmail: Read = undefined
  type: Read = undefined
  name: Read = undefined
  description: Read = undefined
  createdAt: Read = undefined
  data: { start: number; end: number } | undefined = undefined
  /** Of the unknown keys, the one JavaScript lists first (see {@link firstListed}). */
  unknown: string | undefined = undefined
  /** Whether a string field was written with an escape sequence. */
  escaped = false

  /** Reads the object at the cursor (on its brace), member by member. */
  constructor(cursor: Cursor) {
    const text = cursor.text
    cursor.at++
    if (cursor.space() === CLOSE_BRACE) {
      cursor.at++
      return
    }
    for (;;) {
      if (cursor.space() !== QUOTE) cursor.fail()
      const keyStart = cursor.at
      cursor.skipString()
      const keyEnd = cursor.at
      const name = cursor.escaped ? decodeString(text, keyStart, keyEnd) : fieldAt(text, keyStart, keyEnd)
      cursor.expect(COLON)
      const code = cursor.space()
      if (name === 'data') {
        const start = cursor.at
        cursor.skipValue()
        this.data = { start, end: cursor.at }
      } else if (name === undefined || !STRING_FIELDS.includes(name)) {
        this.unknown = firstListed(this.unknown, name ?? text.slice(keyStart + 1, keyEnd - 1))
        cursor.skipValue()
      } else {
        let value: Read = NOT_A_STRING
        if (code !== QUOTE) cursor.skipValue()
        else {
          value = cursor.string()
          if (cursor.escaped) this.escaped = true
        }
        this.set(name as StringField, value)
      }
      const next = cursor.space()
      cursor.at++
      if (next === CLOSE_BRACE) return
      if (next !== COMMA) cursor.failAt(cursor.at - 1)
    }
  }

  // One property per case, rather than `this[name]`: a store or load by a key of seven names
  // is several times slower than one by a name known where it is written.
  private set(name: StringField, value: Read): void {
    switch (name) {
      case 'id':
        this.id = value
        break
      case 'contactEmail':
        this.contactEmail = value
        break
      case 'type':
        this.type = value
        break
      case 'name':
        this.name = value
        break
      case 'description':
        this.description = value
        break
      case 'createdAt':
        this.createdAt = value
    }
  }

  /** The value of `name` as the rules see it. */
  valueOf(name: FieldName): unknown {
    switch (name) {
      case 'id':
        return this.id
      case 'contactEmail':
        return this.contactEmail
      case 'type':
        return this.type
      case 'name':
        return this.name
      case 'description':
        return this.description
      case 'createdAt':
        return this.createdAt
      case 'data':
        return this.data && DATA_PLACEHOLDER
    }
  }
}

/** The field named by the quoted key `text[start, end)` (without escapes), or undefined for another key. */
function fieldAt(text: string, start: number, end: number): FieldName | undefined {
  // Told apart by length, then by their first letter, then checked whole.
  switch (end - start) {
    case 4:
      return keyIs(text, start, 'id') ? 'id' : undefined
    case 6: {
      const first = text.charCodeAt(start + 1)
      if (first === 0x74 /* t */) return keyIs(text, start, 'type') ? 'type' : undefined
      if (first === 0x6e /* n */) return keyIs(text, start, 'name') ? 'name' : undefined
      return keyIs(text, start, 'data') ? 'data' : undefined
    }
    case 11:
      return keyIs(text, start, 'createdAt') ? 'createdAt' : undefined
    case 13:
      return keyIs(text, start, 'description') ? 'description' : undefined
    case 14:
      return keyIs(text, start, 'contactEmail') ? 'contactEmail' : undefined
    default:
      return undefined
  }
}

/** Whether the quoted key at `start`, of the length of `name` and quotes, spells it: compared in place, cheaper than a call to `startsWith`. */
function keyIs(text: string, start: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (text.charCodeAt(start + 1 + i) !== name.charCodeAt(i)) return false
  return true
}

/** One item of `batch`, read without building its data. */
export interface ReadItem {
  /** Its position in `batch`. */
  index: number
  /** The id to report a problem under: its own when it is a string of 1 to 128 characters, else `batch[<index>]`. */
  reportId: string
  /** The first broken rule among the item's shape and fields other than `data`; undefined when none. */
  violation: RuleViolation | undefined
  /** The fields other than data, decoded (meaningful only when `violation` is undefined). */
  fields: ItemFields
  /** Where the value of `data` lies in the text, [start, end), when present. */
  data: { start: number; end: number } | undefined
  /** Whether every string of `fields` was written without an escape sequence, so JSON writes it back between quotes as it is. */
  plain: boolean
}

/** Reads the item at the cursor, the `index`th of its batch, and checks it with the body's `checks`. */
export function readItem(cursor: Cursor, index: number, checks: FieldChecks): ReadItem {
  if (cursor.space() !== OPEN_BRACE) {
    cursor.skipValue()
    return { index, reportId: `batch[${index}]`, violation: checkEngagement(null), fields: NO_FIELDS, data: undefined, plain: false }
  }
  const read = new ItemRead(cursor)
  const { id } = read
  const reportId = typeof id === 'string' && id.length >= 1 && id.length <= LIMITS.idLength ? id : `batch[${index}]`
  const violation = checks.verdict(read)
  // Once every rule holds, each field is a string (or an absent optional one): the read is the fields.
  return {
    index,
    reportId,
    violation,
    fields: violation ? NO_FIELDS : (read as unknown as ItemFields),
    data: read.data,
    plain: !read.escaped,
  }
}

const NO_FIELDS: ItemFields = Object.freeze({ id: '', contactEmail: '', type: '', name: undefined, description: undefined, createdAt: '' })

/**
 * Of two unknown keys of an item, `first` read before `key`, the one `checkEngagement` names:
 * JavaScript lists integer-like keys first, in ascending order, then the others in the order
 * they came.
 */
function firstListed(first: string | undefined, key: string): string {
  if (first === undefined) return key
  const index = arrayIndex(key)
  if (index === undefined) return first
  const firstIndex = arrayIndex(first)
  return firstIndex === undefined || index < firstIndex ? key : first
}

/** The array index `key` spells (a canonical integer below 2^32 - 1), or undefined. */
export function arrayIndex(key: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,9})$/.test(key)) return undefined
  const index = Number(key)
  return index < 4_294_967_295 ? index : undefined
}
