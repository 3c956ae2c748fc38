/**
 * The questions the state has put to the memory and not yet heard back on, and the engagements
 * another sender of the key is delivering, to be asked about again once their time comes.
 */
import type { Entry } from './entry.js'

/** How often to ask again about an engagement another sender of the key is delivering, in ms. */
const ELSEWHERE_POLL_MS = 250

export class Questions {
  private readonly open = new Map<number, Entry[]>()
  private elsewhere: { entry: Entry; at: number }[] = []
  private lastToken = 0

  /** Puts a question about `entries`; returns its token. */
  ask(entries: Entry[]): number {
    const token = ++this.lastToken
    this.open.set(token, entries)
    return token
  }

  /** The entries a question was about, once it is answered. */
  answered(token: number): Entry[] {
    const entries = this.open.get(token) ?? []
    this.open.delete(token)
    return entries
  }

  /** Another sender is delivering `entry`: ask again a little later. */
  later(entry: Entry, now: number): void {
    this.elsewhere.push({ entry, at: now + ELSEWHERE_POLL_MS })
  }

  /** The entries whose time to be asked about again has come. */
  due(now: number): Entry[] {
    const due = this.elsewhere.filter((item) => item.at <= now)
    if (due.length > 0) this.elsewhere = this.elsewhere.filter((item) => item.at > now)
    return due.map((item) => item.entry)
  }

  /** Every entry waiting to be asked about again, taken. */
  takeAll(): Entry[] {
    const all = this.elsewhere.map((item) => item.entry)
    this.elsewhere = []
    return all
  }

  /** When the next of them is due; `Infinity` when none is. */
  get nextAt(): number {
    let at = Infinity
    for (const item of this.elsewhere) at = Math.min(at, item.at)
    return at
  }
}
