/** The Coalescer's internal records: one entry per id held, one waiter per occurrence in a client request. */
import type { Parcel } from './types.js'

/** How an engagement ended: acknowledged by our request, delivered before, or refused for good. */
export type Fate = { kind: 'accepted' } | { kind: 'known' } | { kind: 'rejected'; reason: string; unchecked?: true }

/** Upstream requests left for isolating the engagements one client request brought. */
export interface IsolationBudget {
  /** Charged when an isolation request leaves, not when it is queued. */
  left: number
  /**
   * Whether one of its isolation requests is awaiting its answer: they go one at a time, so that
   * halving goes deep (a refused half is halved before its sibling is sent) and the budget finds
   * the refused engagements themselves instead of spending itself on one level of halves.
   */
  flying: boolean
  /** Why Conversion last refused a batch holding its engagements: quoted to the suspects left unchecked. */
  refusal: string
}

/** One id's journey, shared by every client request that carries it. */
export interface Entry {
  parcel: Parcel
  /** The client that brought it (`''` when clients are not told apart). */
  client: string
  fate: Fate | undefined
  /** Open submits waiting for this entry, one waiter per occurrence. */
  waiters: Set<Waiter>
  /** The isolation budget of the client request that brought it. */
  budget: IsolationBudget
  /** Whether the memory answered `new` for it: a claim to release if it is not delivered. */
  claimed: boolean
}

/** One engagement of one open submit. */
export interface Waiter {
  submit: OpenSubmit
  entry: Entry
  /** Whether this occurrence brought the id in: it counts `accepted`; the others count `duplicates`. */
  owner: boolean
}

/** A submit not answered yet. */
export interface OpenSubmit {
  id: number
  waiters: Waiter[]
  /** Occurrences whose entry has no fate yet. */
  unsettled: number
  /** Rejections decided at the door (a conflicting id inside the request). */
  refused: { id: string; reason: string }[]
  done: boolean
  /** Whether its answer lists the ids counted as duplicates. */
  listDuplicates: boolean
}
