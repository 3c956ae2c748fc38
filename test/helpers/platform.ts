import { IDBFactory } from 'fake-indexeddb'
import { createStore, type UseStore } from 'idb-keyval'
import type { Platform } from '../../src/tracker/options.js'
import type { FakeClock } from './clock.js'

/** Lets pending I/O (fake IndexedDB runs on setImmediate) and promise chains run. */
export async function settle(rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Waits until `predicate` holds, letting I/O run; fails after `rounds` tries instead of hanging. */
export async function until(predicate: () => boolean | Promise<boolean>, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await predicate()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not reached')
}

/** An in-process LockManager: exclusive locks granted in request order, with abort signals. */
export class FakeLocks {
  private held = new Map<string, boolean>()
  private waiting = new Map<string, (() => void)[]>()

  request(name: string, options: LockOptions, callback: LockGrantedCallback<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.held.set(name, true)
        Promise.resolve(callback({ name, mode: 'exclusive' } as Lock))
          .then(resolve, reject)
          .finally(() => {
            this.held.delete(name)
            this.waiting.get(name)?.shift()?.()
          })
      }
      if (!this.held.get(name)) return grant()
      const queue = this.waiting.get(name) ?? []
      queue.push(grant)
      this.waiting.set(name, queue)
      options.signal?.addEventListener('abort', () => {
        const index = queue.indexOf(grant)
        if (index >= 0) {
          queue.splice(index, 1)
          reject(new DOMException('aborted', 'AbortError'))
        }
      })
    })
  }
}

/**
 * Web Locks as a sandboxed (opaque-origin) frame, or a page whose site data is blocked, has them:
 * present, and every request refused.
 */
export const refusingLocks = {
  request: () => Promise.reject(new DOMException('The request was denied.', 'SecurityError')),
} as unknown as LockManager

/** A Storage in memory, shared by the "tabs" that get it. */
export class FakeStorage {
  private items = new Map<string, string>()
  getItem = (key: string) => this.items.get(key) ?? null
  setItem = (key: string, value: string) => void this.items.set(key, String(value))
  removeItem = (key: string) => void this.items.delete(key)
}

/** What one origin's tabs share: storage, locks, and (through Node's real BroadcastChannel) messages. */
export class FakeOrigin {
  indexedDB = new IDBFactory()
  locks = new FakeLocks()
  localStorage = new FakeStorage()
  /** Readwrite transactions started, to check that one tick's appends share one. */
  writes = 0

  createStore = (database: string, store: string): UseStore => {
    // idb-keyval opens the global indexedDB: point it at this origin's while it opens.
    const previous = globalThis.indexedDB
    globalThis.indexedDB = this.indexedDB
    const useStore = createStore(database, store)
    return (mode, callback) => {
      globalThis.indexedDB = this.indexedDB
      if (mode === 'readwrite') this.writes++
      const result = useStore(mode, callback)
      globalThis.indexedDB = previous
      return result
    }
  }
}

/** One page: its own window, document and connectivity, on a shared origin and clock. */
export class FakePage {
  readonly window = new EventTarget()
  readonly document = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState })
  online = true
  beacons: { url: string; body: string }[] = []
  logs: { level: string; args: unknown[] }[] = []
  acceptBeacons = true

  constructor(
    readonly clock: FakeClock,
    readonly origin: FakeOrigin,
    readonly fetch: typeof globalThis.fetch,
  ) {}

  platform(overrides: Partial<Platform> = {}): Partial<Platform> {
    const log =
      (level: string) =>
      (...args: unknown[]) =>
        void this.logs.push({ level, args })
    let random = 0.5
    return {
      fetch: this.fetch,
      sendBeacon: (url, body) => {
        if (!this.acceptBeacons) return false
        this.beacons.push({ url, body })
        return true
      },
      createStore: this.origin.createStore,
      locks: this.origin.locks as unknown as LockManager,
      localStorage: this.origin.localStorage as unknown as Storage,
      BroadcastChannel: globalThis.BroadcastChannel,
      window: this.window,
      document: this.document,
      isOnline: () => this.online,
      now: () => this.clock.now(),
      setTimeout: this.clock.setTimeout,
      clearTimeout: this.clock.clearTimeout,
      // Deterministic jitter that still varies.
      random: () => (random = (random * 9301 + 0.49297) % 1),
      randomUUID: () => crypto.randomUUID(),
      console: { debug: log('debug'), warn: log('warn'), error: log('error') },
      ...overrides,
    }
  }

  hide(): void {
    this.document.visibilityState = 'hidden'
    this.document.dispatchEvent(new Event('visibilitychange'))
  }

  show(): void {
    this.document.visibilityState = 'visible'
    this.document.dispatchEvent(new Event('visibilitychange'))
  }

  goOnline(): void {
    this.online = true
    this.window.dispatchEvent(new Event('online'))
  }
}
