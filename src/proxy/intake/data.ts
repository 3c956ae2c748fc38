/**
 * An engagement's `data`, checked from its text with the rules `checkEngagement` applies to the
 * parsed value, and written as compact JSON on the way. The walk stops at the first broken rule,
 * and as soon as the JSON written passes the 16 KiB cap, so it reads at most the cap's worth of
 * values (and the whitespace between them), whatever the size of the text.
 */
import { LIMITS, ruleViolation, type RuleViolation } from '../../contract.js'
import { FORBIDDEN_KEYS, UNSAFE_INTEGER } from '../../core/json.js'
import { refusedCharacter, UNPAIRED_SURROGATE } from '../../core/text.js'
import { CompactWriter } from './compact.js'
import { CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, isSpace, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './characters.js'
import { Cursor } from './cursor.js'
import { OpenObjectKeys } from './keys.js'
import { NOT_FINITE } from './number.js'

/** The verdict on one engagement's data: its compact JSON, or the first rule it breaks. */
export type DataVerdict = { ok: true; json: string } | { ok: false; violation: RuleViolation }

/**
 * Applies data's rules to its text: depth, forbidden keys, safe integers, finite numbers,
 * well-formed strings, 16 KiB; returns the data's compact JSON (insignificant whitespace
 * removed) or the violation (field path like `data.a[3].b`).
 *
 * `text[start, end)` must be one JSON value, as `readClientRequest` found it (`ReadItem.data`);
 * any other text throws. Strings and numbers are written as `JSON.stringify` writes them, so
 * the UTF-8 length of `json` is what the 16 KiB rule counts, and `json` parses to the same value
 * as the text. A text, unlike a parsed object, can repeat a key in an object: that is refused
 * (`must not repeat the key`), because receivers disagree on which of the two values counts.
 */
export function checkData(text: string, start: number, end: number): DataVerdict {
  return new DataChecker(text).check(start, end)
}

/** {@link checkData} for the data of many items of one text, reusing what one walk needs for the next. */
export class DataChecker {
  private readonly cursor: Cursor
  private readonly walk: DataWalk

  constructor(private readonly text: string) {
    this.cursor = new Cursor(text)
    this.walk = new DataWalk(this.cursor)
  }

  /** The verdict on the data at `text[start, end)`, as {@link checkData} gives it. */
  check(start: number, end: number): DataVerdict {
    const { cursor, walk, text } = this
    cursor.at = start
    cursor.space()
    walk.reset()
    const violation = walk.run()
    if (violation) return { ok: false, violation }
    let at = cursor.at
    while (at < end && isSpace(text.charCodeAt(at))) at++
    if (at !== end) cursor.failAt(at)
    return { ok: true, json: walk.writer.json() }
  }
}

const TOO_LARGE = `must be at most ${LIMITS.dataBytes} bytes as JSON`

class DataWalk {
  readonly writer: CompactWriter
  private readonly keys: OpenObjectKeys
  private readonly text: string
  // The open containers, outermost first: whether each is an object, and where the walk is in
  // it: the index of the current item, or where the current key starts in the text (-1: none yet).
  private depth = 0
  private readonly isObject: boolean[] = []
  private readonly positions: number[] = []

  constructor(private readonly cursor: Cursor) {
    this.text = cursor.text
    this.writer = new CompactWriter(cursor)
    this.keys = new OpenObjectKeys(cursor.text)
  }

  /** Readies the walk for the value at the cursor. */
  reset(): void {
    this.depth = 0
    this.writer.reset()
  }

  /** Walks the value at the cursor; returns the first broken rule, or undefined when there is none. */
  run(): RuleViolation | undefined {
    const { cursor, writer } = this
    let code = this.text.charCodeAt(cursor.at)
    if (code !== OPEN_BRACE) return this.violation(0, 'must be a plain object of JSON values')
    for (;;) {
      if (code === OPEN_BRACE || code === OPEN_BRACKET) {
        if (this.depth === LIMITS.dataDepth) return this.violation(this.depth, `must not nest deeper than ${LIMITS.dataDepth} levels`)
        writer.punctuation()
        const next = writer.space()
        if (next === code + 2 /* the matching } or ] */) writer.punctuation()
        else {
          const level = this.depth++
          this.isObject[level] = code === OPEN_BRACE
          this.positions[level] = code === OPEN_BRACE ? -1 : 0
          if (code === OPEN_BRACE) {
            this.keys.open(level)
            const refused = this.key()
            if (refused) return refused
            code = writer.space()
          } else code = next
          continue
        }
      } else {
        const refused = code === QUOTE ? this.string() : code === 0x74 || code === 0x66 || code === 0x6e ? writer.word(code) : this.number()
        if (refused) return refused
      }
      // After a value: close the containers that end here, up to the next member if any.
      let member = false
      while (this.depth > 0 && !member) {
        const next = writer.space()
        const top = this.depth - 1
        if (next === COMMA) {
          writer.punctuation()
          if (this.isObject[top]) {
            writer.space()
            const refused = this.key()
            if (refused) return refused
          } else this.positions[top]!++
          member = true
        } else if (next === (this.isObject[top] ? CLOSE_BRACE : CLOSE_BRACKET)) {
          writer.punctuation()
          this.depth--
        } else cursor.fail()
      }
      // The JSON written only grows: past the cap, nothing further can make the data acceptable.
      if (writer.bytes > LIMITS.dataBytes) return this.violation(0, TOO_LARGE, 'max')
      if (!member) return undefined
      code = writer.space()
    }
  }

  /** The key at the cursor (on its quote) and its colon; refuses a forbidden, ill-formed or repeated key. */
  private key(): RuleViolation | undefined {
    const { cursor, writer } = this
    const start = cursor.at
    if (this.text.charCodeAt(start) !== QUOTE) cursor.fail()
    const unpaired = writer.string()
    const top = this.depth - 1
    this.positions[top] = start
    // Reported at the object that holds the key, as checkEngagement does.
    if (unpaired >= 0 || ((writer.units === 9 || writer.units === 11) && FORBIDDEN_KEYS.includes(this.stringAt(start)))) {
      return this.violation(top, `must not use the key "${this.stringAt(start)}"`)
    }
    if (!this.keys.add(top, start, cursor.at, writer.escaped))
      return this.violation(top, `must not repeat the key "${this.stringAt(start)}"`)
    if (writer.space() !== COLON) cursor.fail()
    writer.punctuation()
    return undefined
  }

  private string(): RuleViolation | undefined {
    const unpaired = this.writer.string()
    return unpaired < 0
      ? undefined
      : this.violation(this.depth, refusedCharacter(String.fromCharCode(unpaired), UNPAIRED_SURROGATE) as string)
  }

  private number(): RuleViolation | undefined {
    const refused = this.writer.number()
    if (refused === undefined) return undefined
    return this.violation(this.depth, refused === NOT_FINITE ? 'must be a finite number' : UNSAFE_INTEGER)
  }

  /** The string at `start` in the text, decoded. */
  private stringAt(start: number): string {
    return new Cursor(this.text, start).string()
  }

  /** A broken rule at the current member of each of the first `depth` levels, inside data. */
  private violation(depth: number, message: string, rule = 'json'): RuleViolation {
    const path: (string | number)[] = ['data']
    for (let level = 0; level < depth; level++) {
      const position = this.positions[level] as number
      path.push(this.isObject[level] ? this.stringAt(position) : position)
    }
    return ruleViolation(path, rule, message)
  }
}
