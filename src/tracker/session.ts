import type { Contact } from './engagement.js'
import type { Settings, SettingsStore } from './settings.js'

/**
 * Who engagements are for, and whether tracking is off, as this page knows it: pure. What an
 * earlier visit stored arrives late (IndexedDB is asynchronous); a call made before it arrived,
 * here or in another tab, is newer and wins over it.
 */
export function createSessionState() {
  let contact: Contact | undefined
  let optedOut = false
  let contactSet = false
  let optOutSet = false
  return {
    get contact(): Contact | undefined {
      return contact
    },
    get optedOut(): boolean {
      return optedOut
    },
    setContact(next: Contact | undefined): void {
      contactSet = true
      contact = next
    },
    setOptOut(value: boolean): void {
      optOutSet = true
      optedOut = value
    },
    /** What an earlier visit stored. */
    restore(storedContact: Contact | undefined, storedOptOut: boolean): void {
      if (!contactSet) contact = storedContact
      if (!optOutSet) optedOut = storedOptOut
    },
  }
}

/** The session's state. */
export type SessionState = ReturnType<typeof createSessionState>

/** What the session tells the other tabs. */
type SessionMessage = { type: 'contact'; contact: Contact | undefined } | { type: 'opt-out'; optedOut: boolean }

/**
 * The session of this page: its state, restored from what an earlier visit stored, and each
 * change made here stored for later visits and told to the other tabs (which store nothing:
 * what they hear is stored already).
 */
export function createSession(settings: SettingsStore, tellTabs: (message: SessionMessage) => void, fault: (error: unknown) => void) {
  const state = createSessionState()
  /** Settles once what an earlier visit stored is known, whether or not it could be read. */
  const loaded = Promise.all([settings.read('contact'), settings.read('opted-out')]).then(
    ([contact, optedOut]) => state.restore(contact, !!optedOut),
    () => undefined,
  )
  const store = <Name extends 'contact' | 'opted-out'>(name: Name, value: Settings[Name] | undefined, message: SessionMessage) => {
    tellTabs(message)
    void loaded.then(() => settings.write(name, value)).catch(fault)
  }
  return {
    state,
    loaded,
    setContact(contact: Contact | undefined): void {
      state.setContact(contact)
      store('contact', contact, { type: 'contact', contact })
    },
    setOptOut(optedOut: boolean): void {
      state.setOptOut(optedOut)
      store('opted-out', optedOut || undefined, { type: 'opt-out', optedOut })
    },
  }
}
