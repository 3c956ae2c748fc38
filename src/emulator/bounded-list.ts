/** An append-only list that keeps only the newest `limit` items. */
export interface BoundedList<T> {
  push(item: T): void
  /** The kept items, oldest first: a copy. */
  toArray(): T[]
  /**
   * Kept items whose `key` is above `since`, oldest first, at most `limit` of them. Assumes
   * `key` grows with insertion order, as positions and sequence numbers do.
   */
  after(key: (item: T) => number, since: number, limit: number): T[]
  readonly size: number
  clear(): void
}

/** Creates a {@link BoundedList}; `onDrop` hears of every item dropped to stay within `limit`. */
export function createBoundedList<T>(limit: number, onDrop: (item: T) => void = () => {}): BoundedList<T> {
  // Dropping moves `start` instead of shifting, and the array is compacted once `start` reaches
  // `limit`: each push stays O(1) amortized where `shift()` on a big array would be O(n).
  let items: T[] = []
  let start = 0

  const at = (index: number) => items[index] as T

  return {
    push(item) {
      items.push(item)
      if (items.length - start <= limit) return
      onDrop(at(start))
      start++
      if (start >= limit) {
        items = items.slice(start)
        start = 0
      }
    },
    toArray: () => items.slice(start),
    after(key, since, max) {
      // Binary search for the first item above `since`.
      let low = start
      let high = items.length
      while (low < high) {
        const middle = (low + high) >>> 1
        if (key(at(middle)) > since) high = middle
        else low = middle + 1
      }
      return items.slice(low, low + max)
    },
    get size() {
      return items.length - start
    },
    clear() {
      items = []
      start = 0
    },
  }
}
