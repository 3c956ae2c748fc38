/**
 * Which engagements leave in the next upstream request. Clients are served fairly: every batch is
 * filled round-robin across the clients that have engagements waiting (max-min fair by count), so
 * a client with thousands waiting cannot hold back one with a few. Work to isolate what Conversion
 * refused takes at most every other request while fresh engagements wait, round-robin by client.
 * Retries of whole batches go first: they were fair when formed.
 */
import { createFifo, type Fifo } from '../fifo.js'
import { BATCH_ENVELOPE_BYTES, SEPARATOR_BYTES } from '../parcel.js'
import type { Entry, IsolationBudget } from './entry.js'

/** One upstream request's worth of entries, and why it is sent. */
export interface Formed {
  entries: Entry[]
  /** Isolation work: the request is charged to a client request's budget. */
  isolation: boolean
}

export class Scheduler {
  /** Fresh entries per client, clients in the order they first had some. */
  private readonly fresh = new Map<string, Fifo<Entry>>()
  /** Groups to send alone, per client, to isolate refused engagements. */
  private readonly isolating = new Map<string, Entry[][]>()
  private readonly retries: Entry[][] = []
  private lastWasIsolation = false
  private count = 0

  constructor(
    private readonly batchSize: number,
    private maxBatchBytes: number,
  ) {}

  /** Engagements waiting, in every queue. */
  get waiting(): number {
    return this.count
  }

  get batchBytes(): number {
    return this.maxBatchBytes
  }

  /** Sends smaller bodies from now on (a 413 said the last ones were too large). */
  lowerBatchBytes(bytes: number): void {
    this.maxBatchBytes = Math.min(this.maxBatchBytes, bytes)
  }

  enqueue(entry: Entry): void {
    let line = this.fresh.get(entry.client)
    if (!line) this.fresh.set(entry.client, (line = createFifo()))
    line.push(entry)
    this.count++
  }

  /** Puts batches back at the head of the line, to go before anything else. */
  retry(batches: Entry[][]): void {
    this.retries.unshift(...batches)
    for (const batch of batches) this.count += batch.length
  }

  /**
   * Queues groups to be sent each in a request of its own, ahead of the client's earlier ones
   * (depth first: the halves of a refused half go next, so a request is done with sooner).
   */
  isolate(groups: Entry[][]): void {
    for (const group of [...groups].reverse()) {
      const client = (group[0] as Entry).client
      const line = this.isolating.get(client) ?? []
      line.unshift(group)
      this.isolating.set(client, line)
      this.count += group.length
    }
  }

  /** Takes out every group queued for isolation on behalf of one client request. */
  withdraw(budget: IsolationBudget): Entry[] {
    const withdrawn: Entry[] = []
    for (const [client, line] of this.isolating) {
      const kept: Entry[][] = []
      for (const group of line) {
        if ((group[0] as Entry).budget === budget) withdrawn.push(...group)
        else kept.push(group)
      }
      if (kept.length === 0) this.isolating.delete(client)
      else this.isolating.set(client, kept)
    }
    this.count -= withdrawn.length
    return withdrawn
  }

  /** Takes one group out of the isolation queue; false when it is not there (sent, or taken out). */
  withdrawGroup(group: Entry[]): boolean {
    const client = (group[0] as Entry).client
    const line = this.isolating.get(client)
    const at = line?.indexOf(group) ?? -1
    if (!line || at < 0) return false
    line.splice(at, 1)
    if (line.length === 0) this.isolating.delete(client)
    this.count -= group.length
    return true
  }

  /** The next request's entries, or undefined when nothing waits. */
  take(): Formed | undefined {
    const retry = this.retries.shift()
    if (retry) return this.taken({ entries: retry, isolation: false })
    const freshWaits = this.fresh.size > 0
    const isolating = this.isolating.size > 0 && (!freshWaits || !this.lastWasIsolation) ? this.nextIsolation() : undefined
    if (isolating) {
      this.lastWasIsolation = true
      return this.taken({ entries: isolating, isolation: true })
    }
    this.lastWasIsolation = false
    return freshWaits ? this.taken({ entries: this.fill(), isolation: false }) : undefined
  }

  /** Empties every queue (a halt, or close), returning what waited. */
  takeAll(): Entry[] {
    const all = [
      ...this.retries.flat(),
      ...[...this.isolating.values()].flat(2),
      ...[...this.fresh.values()].flatMap((line) => line.drain()),
    ]
    this.retries.length = 0
    this.isolating.clear()
    this.fresh.clear()
    this.count = 0
    return all
  }

  private taken(formed: Formed): Formed {
    this.count -= formed.entries.length
    return formed
  }

  /**
   * The first group, of the client served least recently, whose client request has no isolation
   * request awaiting its answer (clients go to the back once served); undefined when every
   * isolating request awaits one.
   */
  private nextIsolation(): Entry[] | undefined {
    for (const [client, line] of this.isolating) {
      const at = line.findIndex((group) => !(group[0] as Entry).budget.flying)
      if (at < 0) continue
      const [group] = line.splice(at, 1) as [Entry[]]
      this.isolating.delete(client)
      if (line.length > 0) this.isolating.set(client, line)
      return group
    }
    return undefined
  }

  /**
   * Fills one batch round-robin: each pass offers every client an equal share of the room left,
   * so clients with few waiting send all of theirs and the rest share what remains. Clients served
   * least recently come first, and go to the back once served.
   */
  private fill(): Entry[] {
    const batch: Entry[] = []
    const served: string[] = []
    let bytes = BATCH_ENVELOPE_BYTES
    let open = [...this.fresh.keys()]
    while (batch.length < this.batchSize && open.length > 0) {
      const share = Math.max(1, Math.floor((this.batchSize - batch.length) / open.length))
      const stillOpen: string[] = []
      for (const client of open) {
        const line = this.fresh.get(client) as Fifo<Entry>
        let taken = 0
        for (let next = line.peek(); next && taken < share && batch.length < this.batchSize; next = line.peek()) {
          const added = next.parcel.wireBytes + (batch.length > 0 ? SEPARATOR_BYTES : 0)
          // One engagement larger than the cap still goes alone, to be refused alone.
          if (batch.length > 0 && bytes + added > this.maxBatchBytes) break
          batch.push(line.shift() as Entry)
          bytes += added
          taken++
        }
        if (taken > 0) served.push(client)
        if (line.length === 0) this.fresh.delete(client)
        else if (taken === share) stillOpen.push(client)
      }
      open = stillOpen
    }
    for (const client of served) {
      const line = this.fresh.get(client)
      if (!line) continue
      this.fresh.delete(client)
      this.fresh.set(client, line)
    }
    return batch
  }
}
