/** The characters of JSON's grammar, by code, and the tests the readers make of them. */

export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const OPEN_BRACE = 0x7b
export const CLOSE_BRACE = 0x7d
export const OPEN_BRACKET = 0x5b
export const CLOSE_BRACKET = 0x5d
export const COMMA = 0x2c
export const COLON = 0x3a
export const MINUS = 0x2d

/** Whether `code` is one of JSON's four whitespace characters. */
export function isSpace(code: number): boolean {
  // Most characters read are not whitespace: one comparison tells.
  return code <= 0x20 && (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09)
}

export function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39
}

/** The index after the run of digits that starts at `at`. */
export function digitsEnd(text: string, at: number): number {
  while (isDigit(text.charCodeAt(at))) at++
  return at
}

/** The value of a hex digit, or -1. */
export function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1
}
