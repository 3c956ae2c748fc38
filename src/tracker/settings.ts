import type { Contact } from './engagement.js'
import type { Store } from './store.js'

/** Backoff that outlives the page: how many failures in a row, and no request before `until` (epoch ms). */
export interface RetryState {
  failures: number
  until: number
}

/**
 * What the tracker remembers besides engagements, by name. The names are stored as they are:
 * pages loaded before a rename would not find what they wrote.
 */
export interface Settings {
  /** The contact of later engagements, until `reset()`. */
  contact: Contact
  /** Present (and true) after `optOut()`, until `optIn()`. */
  'opted-out': true
  retry: RetryState
}

/** A typed section of the outbox's database: one record per setting, beside the engagements. */
export interface SettingsStore {
  read<Name extends keyof Settings>(name: Name): Promise<Settings[Name] | undefined>
  /** Stores `value`, or deletes the setting when it is undefined. */
  write<Name extends keyof Settings>(name: Name, value: Settings[Name] | undefined): Promise<void>
}

/** Setting records live under keys that start with this, apart from the outbox's own keys. */
const PREFIX = 'm'

export function createSettings(run: Store): SettingsStore {
  return {
    // The one record whose key is exactly the name: `key + '\0'` is the first key above `key`.
    read: (name) => run('readonly', async (tx) => (await tx.read<never>('getAll', { start: PREFIX + name, end: `${PREFIX}${name}\0` }))[0]),
    write: (name, value) => run('readwrite', async (tx) => (value === undefined ? tx.delete(PREFIX + name) : tx.put(PREFIX + name, value))),
  }
}
