import type { Contact } from './engagement.js'
import { createLeadership } from './leader.js'
import type { Platform } from './options.js'
import type { OutboxEntry } from './outbox.js'

/**
 * What the tabs of one origin tell each other. Tabs of two versions of the tracker may be open
 * at once (during a deploy), so these names and shapes stay as they are.
 */
export type TabMessage =
  /** Entries a tab queued: the leader counts them toward `flushAt` and keeps them for beacons. */
  | { type: 'appended'; entries: OutboxEntry[]; durable: boolean }
  /** Keys of entries the leader removed from the outbox (delivered or given up), for the others to forget. */
  | { type: 'settled'; keys: string[] }
  /** A tab asks the leader to send everything now, and hears back with the same nonce. */
  | { type: 'flush'; nonce: string }
  | { type: 'flushed'; nonce: string }
  | { type: 'contact'; contact: Contact | undefined }
  | { type: 'opt-out'; optedOut: boolean }

/** What this tab does with each message it hears (`flush` and `flushed` are the protocol's own). */
export type TabHandlers = {
  [Type in Exclude<TabMessage['type'], 'flush' | 'flushed'>]: (message: Extract<TabMessage, { type: Type }>) => unknown
}

/** What the protocol needs from the tab around it. */
export interface TabsContext {
  /** What to do with each message heard. */
  on: TabHandlers
  /**
   * This tab now sends for the origin. `flushing`: a `flush()` of this page waits for the
   * leader, which is now this tab, so everything should be sent now.
   */
  lead(flushing: boolean): Promise<void>
  /** Sends everything now, as another tab's `flush()` asked. */
  drain(): Promise<unknown>
  /** A handler failed (`what` it was doing). */
  fault: (what: string) => (error: unknown) => void
  /** Leadership works in a degraded way, as `message` says. */
  warn: (message: string) => void
}

/**
 * The tabs protocol: a BroadcastChannel (without one, tabs only meet through the shared outbox),
 * the election of the tab that sends, and flushes asked of it.
 */
export interface Tabs {
  /** Whether this tab sends for the origin. */
  readonly isLeader: boolean
  /** Tells the other tabs. A closed or failing channel only costs latency: the leader also flushes on a timer. */
  post(message: TabMessage): void
  /** Asks the leader to send everything now; resolves when it says it did, or after `timeoutMs`. */
  flushByLeader(timeoutMs: number): Promise<void>
  /** Hears the other tabs again (after `leave()`: back from the back/forward cache), not entering the election yet. */
  listen(): void
  /** Hears the other tabs again, and enters the election (again after `leave()`: back from the back/forward cache). */
  enter(): void
  /** Gives up leadership or stops waiting for it, so another tab takes over at once, and stops listening. */
  leave(): void
}

export function createTabs(namespace: string, platform: Platform, context: TabsContext): Tabs {
  let channel: BroadcastChannel | undefined
  let isLeader = false
  /** `flush()` calls of this page waiting for the leader's answer, by nonce. */
  const flushWaiters = new Map<string, () => void>()

  const leadership = createLeadership(
    `${namespace}:leader`,
    platform,
    (value) => {
      if (value === isLeader) return
      isLeader = value
      const waiting = [...flushWaiters.values()]
      if (value) {
        context
          .lead(waiting.length > 0)
          .then(() => waiting.forEach((resolve) => resolve()))
          .catch(context.fault('leading'))
      }
    },
    context.warn,
  )

  const post = (message: TabMessage) => {
    try {
      channel?.postMessage(message)
    } catch {
      // See Tabs.post.
    }
  }

  const handlers = {
    ...context.on,
    async flush({ nonce }: { nonce: string }) {
      if (!isLeader) return
      await context.drain()
      post({ type: 'flushed', nonce })
    },
    flushed: ({ nonce }: { nonce: string }) => flushWaiters.get(nonce)?.(),
  } as Record<string, (message: TabMessage) => unknown>

  const listen = () => {
    if (channel || !platform.BroadcastChannel) return
    channel = new platform.BroadcastChannel(namespace)
    channel.onmessage = async ({ data }: MessageEvent<TabMessage>) => {
      try {
        await handlers[data.type]?.(data)
      } catch (error) {
        context.fault('message')(error)
      }
    }
  }

  // Messages are heard from the start (a contact set in another tab counts before this one leads).
  listen()

  return {
    get isLeader() {
      return isLeader
    },
    post,
    flushByLeader(timeoutMs) {
      const nonce = platform.randomUUID()
      return new Promise<void>((resolve) => {
        const done = () => resolve(void flushWaiters.delete(nonce))
        flushWaiters.set(nonce, done)
        post({ type: 'flush', nonce })
        platform.setTimeout(done, timeoutMs)
      })
    },
    listen,
    enter() {
      listen()
      leadership.enter()
    },
    leave() {
      leadership.leave()
      channel?.close()
      channel = undefined
    },
  }
}
