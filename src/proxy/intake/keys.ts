/**
 * The keys of the objects open in a walk over a JSON text, one collection per nesting level, to
 * refuse a key an object repeats. A small object's keys are compared where they lie in the text,
 * so objects of a few keys cost no allocation; from the ninth key on, a Set of decoded keys.
 */
import { decodeString } from './decode.js'

/** Keys compared in place before a Set pays off. */
const IN_PLACE = 8

export class OpenObjectKeys {
  // Per level: the keys seen, three numbers each (start and end of the quoted key, 1 if escaped),
  // in an array reused from object to object, of which the first `filled` numbers count.
  private readonly spans: number[][] = []
  private readonly filled: number[] = []
  private readonly sets: (Set<string> | undefined)[] = []

  constructor(private readonly text: string) {}

  /** Starts the object at `level`, with no key. */
  open(level: number): void {
    this.spans[level] ??= []
    this.filled[level] = 0
    this.sets[level] = undefined
  }

  /** Adds the key `text[start, end)` (quoted) to the object at `level`; false when it has it already. */
  add(level: number, start: number, end: number, escaped: boolean): boolean {
    const set = this.sets[level]
    if (set) {
      const key = decodeString(this.text, start, end)
      if (set.has(key)) return false
      set.add(key)
      return true
    }
    const spans = this.spans[level] as number[]
    const filled = this.filled[level] as number
    for (let i = 0; i < filled; i += 3) {
      if (this.same(spans[i] as number, spans[i + 1] as number, spans[i + 2] === 1, start, end, escaped)) return false
    }
    spans[filled] = start
    spans[filled + 1] = end
    spans[filled + 2] = escaped ? 1 : 0
    this.filled[level] = filled + 3
    if (filled + 3 === 3 * IN_PLACE) {
      const keys = new Set<string>()
      for (let i = 0; i < filled + 3; i += 3) keys.add(decodeString(this.text, spans[i] as number, spans[i + 1] as number))
      this.sets[level] = keys
    }
    return true
  }

  /** Whether two quoted keys in the text decode to the same string. */
  private same(start: number, end: number, escaped: boolean, otherStart: number, otherEnd: number, otherEscaped: boolean): boolean {
    const text = this.text
    if (escaped || otherEscaped) return decodeString(text, start, end) === decodeString(text, otherStart, otherEnd)
    if (end - start !== otherEnd - otherStart) return false
    for (let i = 1; i < end - start - 1; i++) if (text.charCodeAt(start + i) !== text.charCodeAt(otherStart + i)) return false
    return true
  }
}
