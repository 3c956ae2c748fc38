/**
 * Which characters text may hold, where, and the one case-folding the contract allows. Regexes
 * with the `u` flag read a surrogate pair as one code point, so a surrogate range in them
 * matches only the halves left alone (unpaired), which no UTF-8 receiver can represent.
 */

/** A UTF-16 surrogate without its partner. */
export const UNPAIRED_SURROGATE = /[\ud800-\udfff]/u

/** Control characters (C0, DEL, C1) and unpaired surrogates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
export const CONTROL = /[\0-\x1f\x7f-\x9f\ud800-\udfff]/u

/** The same, but tab, line feed and carriage return, which text of several lines needs. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
export const CONTROL_IN_TEXT = /[\0-\b\v\f\x0e-\x1f\x7f-\x9f\ud800-\udfff]/u

/**
 * Control characters and unpaired surrogates, and what makes one address look like another:
 * bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and invisible
 * characters (soft hyphen, zero-width space and joiners, word joiner, byte order mark).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
export const HIDDEN_IN_EMAIL = /[\0-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]/u

/** `must not contain U+202E`: the first character of `value` that `pattern` refuses, named; undefined when none. */
export function refusedCharacter(value: string, pattern: RegExp): string | undefined {
  const found = pattern.exec(value)?.[0]
  return found && `must not contain U+${found.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`
}

/**
 * The one form in which an email identifies a contact: ASCII letters A-Z lowercased, every other
 * character as it is. `toLowerCase()` would fold more than ASCII (the Kelvin sign U+212A becomes
 * `k`, `İ` becomes `i` and a combining dot), making addresses a mail server tells apart one
 * contact. Identity signatures sign and compare this form.
 * @example canonicalEmail('John.Doe@Example.COM') // 'john.doe@example.com'
 */
export function canonicalEmail(email: string): string {
  return email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())
}
