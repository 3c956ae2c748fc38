import type { OutboxEntry } from './outbox.js'
import type { Platform } from './options.js'

/** The contact engagements are attributed to. */
export interface Contact {
  email: string
  signature?: string
}

/** What the tabs of one origin tell each other. */
export type TabMessage =
  /** Entries a tab queued: the leader counts them toward `flushAt` and keeps them for beacons. */
  | { type: 'appended'; entries: OutboxEntry[]; durable: boolean }
  /** Entries the leader delivered or gave up, so other tabs stop keeping them. */
  | { type: 'settled'; keys: string[] }
  /** A tab asks the leader to send now, and hears back with the same nonce. */
  | { type: 'flush'; nonce: string }
  | { type: 'flushed'; nonce: string }
  | { type: 'contact'; contact: Contact | undefined }
  | { type: 'opt-out'; optedOut: boolean }

/** A BroadcastChannel that can be closed for the back/forward cache and opened again. */
export interface Channel {
  post(message: TabMessage): void
  open(): void
  close(): void
}

/** Without BroadcastChannel, tabs only meet through the shared outbox. */
export function createChannel(name: string, platform: Platform, onMessage: (message: TabMessage) => void): Channel {
  let channel: BroadcastChannel | undefined
  return {
    post(message) {
      try {
        channel?.postMessage(message)
      } catch {
        // A closed or failing channel only costs latency: the leader also flushes on a timer.
      }
    },
    open() {
      if (channel || !platform.BroadcastChannel) return
      channel = new platform.BroadcastChannel(name)
      channel.onmessage = (event: MessageEvent<TabMessage>) => onMessage(event.data)
    },
    close() {
      channel?.close()
      channel = undefined
    },
  }
}
