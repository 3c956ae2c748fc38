import { createStore } from 'idb-keyval'
import type { Platform } from './options.js'

/**
 * The browser's facilities, read when a tracker is created (never at import), each guarded:
 * blocked storage throws on mere access in some browsers. Undefined outside a browser.
 */
export function browserPlatform(overrides: Partial<Platform> = {}): Platform | undefined {
  const scope = globalThis as typeof globalThis & Partial<Window>
  const window = overrides.window ?? (scope.window as EventTarget | undefined)
  const document = overrides.document ?? scope.document
  if (!window || !document) return undefined
  const navigator = scope.navigator as Navigator | undefined
  const crypto = scope.crypto
  return {
    fetch: (input, init) => fetch(input, init),
    sendBeacon: navigator?.sendBeacon && ((url, body) => navigator.sendBeacon(url, body)),
    createStore: attempt(() => indexedDB) && createStore,
    locks: navigator?.locks,
    localStorage: attempt(() => localStorage),
    BroadcastChannel: scope.BroadcastChannel,
    isOnline: () => navigator?.onLine !== false,
    now: Date.now,
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as number),
    random: Math.random,
    // randomUUID needs a secure context; getRandomValues works everywhere.
    randomUUID: crypto?.randomUUID ? () => crypto.randomUUID() : () => uuidFrom(crypto.getRandomValues(new Uint8Array(16))),
    console,
    ...overrides,
    window,
    document,
  }
}

/** What `read` returns, or undefined when it throws. */
export function attempt<T>(read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}

/** A version 4 UUID from 16 random bytes. */
export function uuidFrom(bytes: Uint8Array): string {
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  // A dash before bytes 4, 6, 8 and 10: the bits set in 0x550.
  return Array.from(bytes, (byte, i) => ((0x550 >> i) & 1 ? '-' : '') + (byte | 256).toString(16).slice(1)).join('')
}
