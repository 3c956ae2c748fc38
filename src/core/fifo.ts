/** A first-in first-out line that takes from the front without shifting the whole array each time. */
export interface Fifo<T> {
  readonly length: number
  push(item: T): void
  /** The first item, without taking it. */
  peek(): T | undefined
  shift(): T | undefined
  /** Takes every item, oldest first. */
  drain(): T[]
}

export function createFifo<T>(): Fifo<T> {
  let items: T[] = []
  let head = 0
  const compact = () => {
    // Drop the consumed front once it is most of the array: amortized O(1) per item.
    if (head === items.length) {
      items = []
      head = 0
    } else if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head)
      head = 0
    }
  }
  return {
    get length() {
      return items.length - head
    },
    push: (item) => void items.push(item),
    peek: () => (head < items.length ? items[head] : undefined),
    shift() {
      if (head >= items.length) return undefined
      const item = items[head] as T
      items[head++] = undefined as T
      compact()
      return item
    },
    drain() {
      const all = items.slice(head)
      items = []
      head = 0
      return all
    },
  }
}
