import type { Contact } from './engagement.js'
import type { SettingsStore } from './settings.js'

/** What the session tells the other tabs when it changes here. */
export type SessionMessage = { type: 'contact'; contact: Contact | undefined } | { type: 'opt-out'; optedOut: boolean }

/** Who engagements are for, and whether tracking is off, as this page knows it. */
export interface Session {
  readonly contact: Contact | undefined
  readonly optedOut: boolean
  /** Settles once what an earlier visit stored is known, whether or not it could be read. */
  readonly ready: Promise<void>
  /** A change made on this page: stored for later visits, and told to the other tabs. */
  change(message: SessionMessage): void
  /** A change another tab made and stored: taken as it is. */
  heard(message: SessionMessage): void
  /** Reads again what is stored: a page back from the back/forward cache or a freeze heard no other tab meanwhile. */
  reload(): Promise<void>
}

/**
 * The session of this page. What is stored arrives late (IndexedDB is asynchronous); a change
 * made before it arrived, here or in another tab, is newer and wins.
 */
export function createSession(settings: SettingsStore, tellTabs: (message: SessionMessage) => void): Session {
  let contact: Contact | undefined
  let optedOut = false
  /** Changes made or heard so far, of the contact and of the opt-out. */
  let contactChanges = 0
  let optOutChanges = 0
  /** The last change of this page being stored: a read waits for it, or would find what it replaces. */
  let saved: Promise<unknown> = Promise.resolve()

  const heard = (message: SessionMessage) => {
    if (message.type === 'contact') {
      contactChanges++
      contact = message.contact
    } else {
      optOutChanges++
      optedOut = message.optedOut
    }
  }
  const reload = () => {
    const [contactSeen, optOutSeen] = [contactChanges, optOutChanges]
    return saved
      .then(() => Promise.all([settings.read('contact'), settings.read('opted-out')]))
      .then(([stored, storedOptOut]) => {
        if (contactChanges === contactSeen) contact = stored
        if (optOutChanges === optOutSeen) optedOut = !!storedOptOut
      })
  }
  const ready = reload()
  const change = (message: SessionMessage) => {
    heard(message)
    tellTabs(message)
    saved = ready.then(() =>
      message.type === 'contact' ? settings.write('contact', message.contact) : settings.write('opted-out', message.optedOut || undefined),
    )
  }

  return {
    get contact() {
      return contact
    },
    get optedOut() {
      return optedOut
    },
    ready,
    change,
    heard,
    reload,
  }
}
