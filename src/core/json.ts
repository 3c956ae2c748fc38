import { refusedCharacter, UNPAIRED_SURROGATE } from './text.js'

/** Where a value breaks a JSON rule: the path inside the value and what is wrong there. */
export interface JsonProblem {
  path: (string | number)[]
  message: string
}

/** Keys that can rewrite prototypes when a receiver merges objects carelessly. */
export const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype']

// Every double beyond 2^53 is an integer, so the magnitude alone tells a rounded one.
export const UNSAFE_INTEGER = 'must be sent as a string: integers beyond 2^53-1 lose digits'

/**
 * Finds the first reason `value` is not a plain JSON object whose nesting stays within
 * `maxDepth`, or returns undefined. Shared references are fine (JSON copies them); cycles,
 * functions, BigInt, symbols, non-finite numbers, class instances (Date, Map, ...) and
 * prototype-polluting keys are not, nor are the values JSON carries but receivers mangle:
 * integers beyond 2^53-1 and strings or keys with unpaired surrogates. `undefined` is allowed:
 * JSON drops it, as `JSON.stringify` does. Each node is visited once, in time independent of
 * its depth.
 */
export function findJsonProblem(value: unknown, maxDepth: number): JsonProblem | undefined {
  const ancestors = new Set<object>()
  const path: (string | number)[] = []

  const visit = (node: unknown): string | undefined => {
    if (typeof node === 'string') return refusedCharacter(node, UNPAIRED_SURROGATE)
    if (typeof node === 'number') {
      return !Number.isFinite(node) ? 'must be a finite number' : Math.abs(node) > Number.MAX_SAFE_INTEGER ? UNSAFE_INTEGER : undefined
    }
    if (typeof node !== 'object') {
      return typeof node === 'boolean' || node === undefined ? undefined : `must be a JSON value, not a ${typeof node}`
    }
    if (node === null) return
    if (ancestors.has(node)) return 'must not refer back to itself (circular reference)'
    if (ancestors.size >= maxDepth) return `must not nest deeper than ${maxDepth} levels`
    const isArray = Array.isArray(node)
    const proto: unknown = Object.getPrototypeOf(node)
    if (!isArray && proto !== Object.prototype && proto !== null) {
      return `must be a JSON value, not a ${(node as object).constructor?.name ?? 'class instance'}`
    }
    ancestors.add(node)
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.includes(key) || UNPAIRED_SURROGATE.test(key)) return `must not use the key "${key}"`
      path.push(isArray ? +key : key)
      const problem = visit((node as Record<string, unknown>)[key])
      if (problem) return problem
      path.pop()
    }
    ancestors.delete(node)
    return
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { path, message: 'must be a plain object of JSON values' }
  }
  const message = visit(value)
  return message ? { path, message } : undefined
}

/** Number of bytes `text` takes in UTF-8, without allocating an encoded copy. */
export function utf8Length(text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) bytes += 1
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
      bytes += 2
      i++
    } else bytes += 2 // three bytes, lone surrogates included (encoded as U+FFFD)
  }
  return bytes
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}
