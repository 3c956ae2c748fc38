/** JSON string literals decoded, once their syntax has been checked. */
import { BACKSLASH, hexValue } from './characters.js'

/** Beyond this length, a string is decoded by the platform's parser, faster per character. */
const LONG_STRING = 64

/**
 * The string whose quoted text is `text[start, end)`, decoded; its syntax must have been checked.
 * A long one is handed to `JSON.parse`, which builds nothing but that string; a short one is
 * decoded here, in chunks between escapes, which costs less than a call to the parser.
 */
export function decodeString(text: string, start: number, end: number): string {
  if (end - start > LONG_STRING) return JSON.parse(text.slice(start, end)) as string
  let out = ''
  let chunk = start + 1
  const last = end - 1
  for (let at = chunk; at < last; ) {
    if (text.charCodeAt(at) !== BACKSLASH) {
      at++
      continue
    }
    out += text.slice(chunk, at)
    const code = text.charCodeAt(at + 1)
    if (code === 0x75) {
      let unit = 0
      for (let i = at + 2; i < at + 6; i++) unit = unit * 16 + hexValue(text.charCodeAt(i))
      out += String.fromCharCode(unit)
      at += 6
    } else {
      out += SHORT_ESCAPES[code] as string
      at += 2
    }
    chunk = at
  }
  return out + text.slice(chunk, last)
}

/** What each one-letter escape stands for, by the letter's code. */
const SHORT_ESCAPES: Record<number, string> = {
  34: '"',
  92: '\\',
  47: '/',
  98: '\b',
  102: '\f',
  110: '\n',
  114: '\r',
  116: '\t',
}
