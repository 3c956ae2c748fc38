/**
 * Compact JSON written from a JSON text as it is read: whitespace left out, strings and numbers
 * as `JSON.stringify(JSON.parse(text))` writes them, and their UTF-8 bytes counted. The text is
 * copied in runs between the places that change, so a text already compact costs one slice.
 */
import { BACKSLASH, hexValue, QUOTE } from './characters.js'
import type { Cursor } from './cursor.js'
import { AS_WRITTEN, canonicalNumber, NOT_FINITE, UNSAFE } from './number.js'

export class CompactWriter {
  /** UTF-8 bytes of the JSON written so far. */
  bytes = 0
  /** Decoded length (UTF-16 units) of the last string read, and whether it had escapes. */
  units = 0
  escaped = false
  private out = ''
  /** Where the text not yet copied to `out` starts. */
  private copied: number

  constructor(
    private readonly cursor: Cursor,
    private readonly text = cursor.text,
  ) {
    this.copied = cursor.at
  }

  /** Starts writing anew, from the cursor. */
  reset(): void {
    this.bytes = 0
    this.out = ''
    this.copied = this.cursor.at
  }

  /** The JSON written, up to the cursor. */
  json(): string {
    return this.out + this.text.slice(this.copied, this.cursor.at)
  }

  /** Skips whitespace, leaving it out; returns the next character's code. */
  space(): number {
    // Compact JSON has no whitespace to leave out: one comparison tells.
    const code = this.text.charCodeAt(this.cursor.at)
    if (code > 0x20) return code
    const before = this.cursor.at
    const next = this.cursor.space()
    if (this.cursor.at !== before) this.replace(before, this.cursor.at, '')
    return next
  }

  /** Writes one character of punctuation, the one at the cursor. */
  punctuation(): void {
    this.cursor.at++
    this.bytes++
  }

  /** Writes `true`, `false` or `null`, whichever is at the cursor, or fails. */
  word(code: number): void {
    const word = code === 0x74 ? 'true' : code === 0x66 ? 'false' : 'null'
    this.cursor.skipWord(word)
    this.bytes += word.length
  }

  /** Writes the number at the cursor; returns NOT_FINITE or UNSAFE instead when it is either. */
  number(): string | undefined {
    const start = this.cursor.at
    const canonical = canonicalNumber(this.cursor)
    if (canonical === NOT_FINITE || canonical === UNSAFE) return canonical
    if (canonical === AS_WRITTEN) this.bytes += this.cursor.at - start
    else {
      this.bytes += canonical.length
      this.replace(start, this.cursor.at, canonical)
    }
    return undefined
  }

  /**
   * Writes the string at the cursor (on its quote): `\/` and `\u` escapes become the characters
   * they stand for, or stringify's own escape. Returns the code of its first unpaired surrogate
   * (nothing is written then), or -1.
   */
  string(): number {
    const { text, cursor } = this
    let at = cursor.at + 1
    let bytes = 2
    let units = 0
    let escaped = false
    for (;;) {
      let code = text.charCodeAt(at)
      if (code >= 0x20 && code < 0x80 && code !== QUOTE && code !== BACKSLASH) {
        bytes++
        units++
        at++
        continue
      }
      if (code === QUOTE) break
      let next = at + 1
      let spelled = false // spelled otherwise than stringify writes it
      if (code === BACKSLASH) {
        escaped = true
        next = cursor.escapeEnd(at)
        const letter = text.charCodeAt(at + 1)
        if (letter === 0x75 /* u */) code = hexUnit(text, at + 2)
        else if (letter === 0x2f /* / */) code = letter
        else {
          // \" \\ \b \f \n \r \t: as stringify writes them.
          bytes += 2
          units++
          at = next
          continue
        }
        spelled = true
      } else if (!(code >= 0x20)) cursor.failAt(at) // a raw control character, or the end of the text
      if (code >= 0xd800 && code <= 0xdfff) {
        // Only a high surrogate right before a low one is a character; stringify writes the pair raw.
        if (code >= 0xdc00) return code
        let low = text.charCodeAt(next)
        let pairEnd = next + 1
        if (low === BACKSLASH && text.charCodeAt(next + 1) === 0x75) {
          low = hexUnit(text, next + 2)
          pairEnd = cursor.escapeEnd(next)
          spelled = true
        }
        if (!(low >= 0xdc00 && low <= 0xdfff)) return code
        bytes += 4
        units += 2
        if (spelled) this.replace(at, pairEnd, String.fromCharCode(code, low))
        at = pairEnd
        continue
      }
      units++
      if (spelled) {
        const written = stringified(code)
        bytes += written.length > 1 ? written.length : utf8Bytes(code)
        this.replace(at, next, written)
      } else bytes += utf8Bytes(code)
      at = next
    }
    cursor.at = at + 1
    this.bytes += bytes
    this.units = units
    this.escaped = escaped
    return -1
  }

  /** Writes `by` instead of `text[start, end)`. */
  private replace(start: number, end: number, by: string): void {
    this.out += this.text.slice(this.copied, start) + by
    this.copied = end
  }
}

function utf8Bytes(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : 3
}

/** The UTF-16 unit of the four hex digits at `at`. */
function hexUnit(text: string, at: number): number {
  let unit = 0
  for (let i = at; i < at + 4; i++) unit = (unit << 4) | hexValue(text.charCodeAt(i))
  return unit
}

const SHORT_ESCAPES: Record<number, string> = { 34: '\\"', 92: '\\\\', 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' }

/** A character (not a surrogate) as JSON.stringify writes it inside a string. */
function stringified(code: number): string {
  const escape = SHORT_ESCAPES[code]
  if (escape !== undefined) return escape
  return code < 0x20 ? `\\u00${code.toString(16).padStart(2, '0')}` : String.fromCharCode(code)
}
