/**
 * JSON's grammar, read in place: a cursor that moves over a text and checks what it passes,
 * never building values it does not return. Every step costs a constant per character, and
 * nesting costs one stack slot per level, so no text can make it slower than linear.
 */

import {
  BACKSLASH,
  CLOSE_BRACE,
  COLON,
  COMMA,
  digitsEnd,
  hexValue,
  isDigit,
  isSpace,
  MINUS,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
} from './characters.js'
import { decodeString } from './decode.js'

/** The text is not JSON. Thrown by the cursor, caught by the readers; `at` is where it stopped. */
export class NotJson extends Error {
  constructor(readonly at: number) {
    super(`not JSON at character ${at}`)
  }
}

/** A cursor over `text`; `at` is the index of the next character to read. */
export class Cursor {
  at: number
  /** Whether the last string skipped or read held an escape. */
  escaped = false
  // Open containers of skipValue, reused between calls so skipping allocates nothing.
  private readonly open: number[] = []

  constructor(
    readonly text: string,
    at = 0,
  ) {
    this.at = at
  }

  fail(): never {
    throw new NotJson(this.at)
  }

  failAt(at: number): never {
    this.at = at
    return this.fail()
  }

  /** Skips whitespace and returns the code of the next character (NaN at the end). */
  space(): number {
    const text = this.text
    let at = this.at
    let code = text.charCodeAt(at)
    while (isSpace(code)) code = text.charCodeAt(++at)
    this.at = at
    return code
  }

  /** Skips whitespace, then `code`, or fails. */
  expect(code: number): void {
    if (this.space() !== code) this.fail()
    this.at++
  }

  /** Skips the string that starts at the cursor (on its quote); sets `escaped`. */
  skipString(): void {
    const text = this.text
    let at = this.at + 1
    let escaped = false
    for (;;) {
      const code = text.charCodeAt(at)
      if (code >= 0x20 && code !== QUOTE && code !== BACKSLASH) at++
      else if (code === QUOTE) break
      else if (code === BACKSLASH) {
        escaped = true
        at = this.escapeEnd(at)
      } else this.failAt(at) // a raw control character, or the end of the text
    }
    this.at = at + 1
    this.escaped = escaped
  }

  /** Where the escape sequence at `at` (on its backslash) ends, or fails. */
  escapeEnd(at: number): number {
    const code = this.text.charCodeAt(at + 1)
    if (code === 0x75 /* u */) {
      for (let i = at + 2; i < at + 6; i++) if (hexValue(this.text.charCodeAt(i)) < 0) this.failAt(i)
      return at + 6
    }
    // " \ / b f n r t
    if (
      code === QUOTE ||
      code === BACKSLASH ||
      code === 0x2f ||
      code === 0x62 ||
      code === 0x66 ||
      code === 0x6e ||
      code === 0x72 ||
      code === 0x74
    )
      return at + 2
    return this.failAt(at + 1)
  }

  /** Reads the string at the cursor (on its quote), decoded. */
  string(): string {
    const start = this.at
    this.skipString()
    return this.escaped ? decodeString(this.text, start, this.at) : this.text.slice(start + 1, this.at - 1)
  }

  /** Skips the number at the cursor, checked against JSON's grammar. */
  skipNumber(): void {
    const text = this.text
    let at = this.at
    if (text.charCodeAt(at) === MINUS) at++
    const first = text.charCodeAt(at)
    if (first === 0x30) at++
    else if (first >= 0x31 && first <= 0x39) at = digitsEnd(text, at)
    else this.failAt(at)
    if (text.charCodeAt(at) === 0x2e /* . */) {
      if (!isDigit(text.charCodeAt(++at))) this.failAt(at)
      at = digitsEnd(text, at)
    }
    if ((text.charCodeAt(at) | 0x20) === 0x65 /* e or E */) {
      const sign = text.charCodeAt(++at)
      if (sign === 0x2b || sign === MINUS) at++
      if (!isDigit(text.charCodeAt(at))) this.failAt(at)
      at = digitsEnd(text, at)
    }
    this.at = at
  }

  /** Skips `word` (true, false or null) at the cursor, or fails. */
  skipWord(word: string): void {
    if (!this.text.startsWith(word, this.at)) this.fail()
    this.at += word.length
  }

  /** Skips the scalar (string, number, true, false, null) whose first character is `code`. */
  skipScalar(code: number): void {
    if (code === QUOTE) this.skipString()
    else if (code === MINUS || isDigit(code)) this.skipNumber()
    else if (code === 0x74) this.skipWord('true')
    else if (code === 0x66) this.skipWord('false')
    else if (code === 0x6e) this.skipWord('null')
    else this.fail()
  }

  /** Skips the key of an object member and its colon; the cursor ends before the value. */
  skipKey(): void {
    if (this.space() !== QUOTE) this.fail()
    this.skipString()
    this.expect(COLON)
  }

  /** Skips one value after optional whitespace, however deeply nested, checking its syntax. */
  skipValue(): void {
    const { text, open } = this
    const base = open.length
    let at = this.at
    value: for (;;) {
      let code = text.charCodeAt(at)
      while (isSpace(code)) code = text.charCodeAt(++at)
      if (code === OPEN_BRACE || code === OPEN_BRACKET) {
        const close = code + 2 // } and ] follow { and [ two places later
        let next = text.charCodeAt(++at)
        while (isSpace(next)) next = text.charCodeAt(++at)
        if (next === close) at++
        else {
          open.push(close)
          if (close === CLOSE_BRACE) at = this.keyAt(at)
          continue
        }
      } else {
        this.at = at
        this.skipScalar(code)
        at = this.at
      }
      // After a value: close what ends here, then go on with the next member.
      while (open.length > base) {
        let next = text.charCodeAt(at)
        while (isSpace(next)) next = text.charCodeAt(++at)
        const close = open[open.length - 1]
        if (next === COMMA) {
          at++
          if (close === CLOSE_BRACE) at = this.keyAt(at)
          continue value
        }
        if (next !== close) this.failAt(at)
        at++
        open.pop()
      }
      this.at = at
      return
    }
  }

  /** Skips the key and colon at `at`; returns where the value starts. */
  private keyAt(at: number): number {
    this.at = at
    this.skipKey()
    return this.at
  }
}
