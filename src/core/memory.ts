/**
 * The memory of delivered engagements, in this process, held compactly: per engagement, 16 bytes
 * of fingerprints (64 bits of its id's, 64 of its content's) and its time, in typed arrays rather
 * than a string per id, about 30 bytes in all. That is what lets the default remember 7.2 million
 * engagements (an hour at Conversion's full 2,000 per second) in about 220 MB, where a `Map` of
 * id strings would need gigabytes and could be flushed on purpose by anyone able to send a few
 * hundred thousand ids.
 *
 * Layout: a ring of records in acknowledgement order (so the oldest is forgotten first, exactly),
 * and an open-addressing index from an id's fingerprint to its place in the ring (linear probes,
 * deletions by backward shift). Both grow by doubling, up to `capacity`.
 */
import { optionReader } from './options.js'
import type { DeliveryMemory, MemoryKey, Recall } from './coalescer/types.js'

/** Options of {@link createMemory}. */
export interface MemoryOptions {
  /** How long an engagement is remembered, in ms. Default `86400000` (24 hours). */
  retentionMs?: number
  /**
   * Most engagements remembered; beyond it the oldest are forgotten first, even inside the
   * retention period. Default `7200000`: one hour at Conversion's full rate, 24 hours at up to 83
   * engagements per second; about 30 bytes each.
   */
  capacity?: number
}

export const MEMORY_DEFAULTS = { retentionMs: 86_400_000, capacity: 7_200_000 } as const

/** An in-process {@link DeliveryMemory}, answering at once. */
export interface Memory extends DeliveryMemory {
  recall(keys: readonly MemoryKey[], now: number): Recall[]
  acknowledge(keys: readonly MemoryKey[], at: number): void
  /** Adds digests remembered elsewhere (a state file), with the time each was acknowledged. */
  restore(digests: Iterable<readonly [digest: string, at: number]>): void
  /** Every digest remembered, with its time, oldest first. */
  entries(): IterableIterator<[digest: string, at: number]>
  readonly retentionMs: number
  readonly capacity: number
}

/** Stands for "any content": what a memory restored from ids alone knows of them. */
export const ANY_CONTENT = '0000000000000000'

const WORDS = 4
const FIRST_RECORDS = 1_024
const EMPTY = -1
/** The time of a place whose record moved to the back of the ring: it is no longer in the index. */
const MOVED = -Infinity
const read = optionReader('conversion-engagements memory')

const word = (hex: string, from: number): number => parseInt(hex.slice(from, from + 8), 16) >>> 0
/** Two hex digits per byte value: `toString(16)` made writing out 7.2 million digests take seconds. */
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => (byte | 256).toString(16).slice(1))
const hexOf = (value: number): string =>
  BYTE_HEX[value >>> 24]! + BYTE_HEX[(value >>> 16) & 255]! + BYTE_HEX[(value >>> 8) & 255]! + BYTE_HEX[value & 255]!
const home = (idHigh: number, idLow: number, mask: number): number => (idLow ^ Math.imul(idHigh, 0x9e3779b1)) & mask

export function createMemory(options: MemoryOptions = {}): Memory {
  const retentionMs = read.number('retentionMs', options.retentionMs, MEMORY_DEFAULTS.retentionMs, { min: 1 })
  const capacity = read.number('capacity', options.capacity, MEMORY_DEFAULTS.capacity, { min: 1, integer: true })
  let records = new Uint32Array(Math.min(capacity, FIRST_RECORDS) * WORDS)
  let times = new Float64Array(records.length / WORDS)
  let index = new Int32Array(0)
  let mask = 0
  /** The oldest record's place in the ring, how many places are taken, and how many of those are live. */
  let head = 0
  let size = 0
  let live = 0

  const room = () => times.length
  const place = (nth: number) => (head + nth) % room()

  /** The index slot of the id, or of the empty slot where it would go. */
  const slotOf = (idHigh: number, idLow: number): number => {
    for (let slot = home(idHigh, idLow, mask); ; slot = (slot + 1) & mask) {
      const at = index[slot] as number
      if (at === EMPTY || (records[at * WORDS] === idHigh && records[at * WORDS + 1] === idLow)) return slot
    }
  }

  const reindex = (): void => {
    let slots = 1
    while (slots < room() * 1.5) slots *= 2
    index = new Int32Array(slots).fill(EMPTY)
    mask = slots - 1
    for (let nth = 0; nth < size; nth++) {
      const at = place(nth)
      if (times[at] !== MOVED) index[slotOf(records[at * WORDS] as number, records[at * WORDS + 1] as number)] = at
    }
  }

  /** Empties index slot `slot`, moving later probes back so that none is cut off from its home. */
  const unindex = (slot: number): void => {
    index[slot] = EMPTY
    for (let hole = slot, next = (slot + 1) & mask; index[next] !== EMPTY; next = (next + 1) & mask) {
      const at = index[next] as number
      const wanted = home(records[at * WORDS] as number, records[at * WORDS + 1] as number, mask)
      const between = hole <= next ? hole < wanted && wanted <= next : hole < wanted || wanted <= next
      if (between) continue
      index[hole] = at
      index[next] = EMPTY
      hole = next
    }
  }

  /** Frees the oldest place: forgets its record, unless the record moved to the back since. */
  const dropHead = (): void => {
    if (times[head] !== MOVED) {
      unindex(slotOf(records[head * WORDS] as number, records[head * WORDS + 1] as number))
      live--
    }
    head = (head + 1) % room()
    size--
  }

  const grow = (): void => {
    const bigger = Math.min(capacity, room() * 2)
    const nextRecords = new Uint32Array(bigger * WORDS)
    const nextTimes = new Float64Array(bigger)
    for (let nth = 0; nth < size; nth++) {
      const at = place(nth)
      nextRecords.set(records.subarray(at * WORDS, at * WORDS + WORDS), nth * WORDS)
      nextTimes[nth] = times[at] as number
    }
    records = nextRecords
    times = nextTimes
    head = 0
    reindex()
  }

  const add = (digest: string, at: number): void => {
    const idHigh = word(digest, 0)
    const idLow = word(digest, 8)
    const slot = slotOf(idHigh, idLow)
    // Acknowledged again: it moves to the back, where its new time belongs.
    if (index[slot] !== EMPTY) {
      times[index[slot] as number] = MOVED
      unindex(slot)
      live--
    }
    if (size === capacity) dropHead()
    if (size === room()) grow()
    const to = place(size)
    records[to * WORDS] = idHigh
    records[to * WORDS + 1] = idLow
    records[to * WORDS + 2] = word(digest, 16)
    records[to * WORDS + 3] = word(digest, 24)
    times[to] = at
    size++
    live++
    index[slotOf(idHigh, idLow)] = to
  }

  const forgetExpired = (now: number): void => {
    const horizon = now - retentionMs
    while (size > 0 && (times[head] as number) <= horizon) dropHead()
  }

  const recallOne = (digest: string, horizon: number): Recall => {
    const at = index[slotOf(word(digest, 0), word(digest, 8))] as number
    // Times may arrive slightly out of order, so a record behind a fresher one is checked too.
    if (at === EMPTY || (times[at] as number) <= horizon) return 'new'
    const anyContent = records[at * WORDS + 2] === 0 && records[at * WORDS + 3] === 0
    const same = records[at * WORDS + 2] === word(digest, 16) && records[at * WORDS + 3] === word(digest, 24)
    return anyContent || same ? 'known' : 'conflict'
  }

  reindex()
  return {
    recall(keys, now) {
      forgetExpired(now)
      return keys.map((key) => recallOne(key.digest, now - retentionMs))
    },
    acknowledge(keys, at) {
      for (const key of keys) add(key.digest, at)
      forgetExpired(at)
    },
    release() {
      // Nothing is claimed in one process: the Coalescer holds an id from its arrival to its memory.
    },
    restore(digests) {
      for (const [digest, at] of digests) add(digest, at)
    },
    size: () => live,
    *entries() {
      for (let nth = 0; nth < size; nth++) {
        const at = place(nth)
        if (times[at] === MOVED) continue
        const words = records.subarray(at * WORDS, at * WORDS + WORDS)
        yield [Array.from(words, hexOf).join(''), times[at] as number]
      }
    },
    retentionMs,
    capacity,
  }
}
