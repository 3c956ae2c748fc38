/** Bytes a JSON array adds around its items: the brackets and one comma between two items. */
const ARRAY_BYTES = 2
const SEPARATOR_BYTES = 1

/** Limits of one batch. */
export interface BatchLimits {
  /** Most items in one batch. */
  maxCount: number
  /** Most bytes of the serialized body, `envelopeBytes` included. */
  maxBytes: number
  /** Bytes the body spends outside the items' array (`{"batch":}` and the like). */
  envelopeBytes: number
}

/**
 * The longest prefix of `items` that fits the limits, given each item's serialized size.
 * Takes at least one item when there is one, so an item that alone exceeds `maxBytes`
 * reaches the caller instead of blocking the queue forever.
 */
export function takeBatch<T>(items: readonly T[], limits: BatchLimits, sizeOf: (item: T) => number): T[] {
  let bytes = limits.envelopeBytes + ARRAY_BYTES
  let end = 0
  for (const item of items) {
    if (end === limits.maxCount) break
    const next = bytes + sizeOf(item) + (end > 0 ? SEPARATOR_BYTES : 0)
    if (end > 0 && next > limits.maxBytes) break
    bytes = next
    end++
  }
  return items.slice(0, end)
}

/** Cuts `items` into consecutive batches that each fit the limits. */
export function splitIntoBatches<T>(items: readonly T[], limits: BatchLimits, sizeOf: (item: T) => number): T[][] {
  const batches: T[][] = []
  for (let rest = items; rest.length > 0; ) {
    const batch = takeBatch(rest, limits, sizeOf)
    batches.push(batch)
    rest = rest.slice(batch.length)
  }
  return batches
}

/** The two halves of `items`, for isolating what a receiver refuses by bisection. */
export function halve<T>(items: readonly T[]): [T[], T[]] {
  // The first half takes the odd item: ceil(length / 2).
  const middle = (items.length + 1) >> 1
  return [items.slice(0, middle), items.slice(middle)]
}
