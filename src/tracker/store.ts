import { promisifyRequest, type UseStore } from 'idb-keyval'

/** Keys from `from` (inclusive) up to `to` (exclusive), in string order. */
export interface KeySpan {
  from: string
  to: string
}

/** One transaction's operations: the few an ordered outbox needs, for IndexedDB and memory alike. */
export interface StoreTransaction {
  getAll<T>(span: KeySpan, limit?: number): Promise<T[]>
  getAllKeys(span: KeySpan, limit?: number): Promise<string[]>
  count(span: KeySpan): Promise<number>
  get<T>(key: string): Promise<T | undefined>
  put(key: string, value: unknown): void
  delete(key: string): void
}

/** Runs `work` in one transaction; resolves with its result once the transaction is committed. */
export type Store = <T>(mode: IDBTransactionMode, work: (tx: StoreTransaction) => Promise<T>) => Promise<T>

/** A {@link Store} on an idb-keyval custom store (one database, one object store). */
export function indexedDbStore(useStore: UseStore): Store {
  return (mode, work) =>
    useStore(mode, async (store) => {
      const range = ({ from, to }: KeySpan) => IDBKeyRange.bound(from, to, false, true)
      const result = await work({
        getAll: (span, limit) => promisifyRequest(store.getAll(range(span), limit)),
        getAllKeys: (span, limit) => promisifyRequest(store.getAllKeys(range(span), limit)) as Promise<string[]>,
        count: (span) => promisifyRequest(store.count(range(span))),
        get: (key) => promisifyRequest(store.get(key)),
        put: (key, value) => store.put(value, key),
        delete: (key) => store.delete(key),
      })
      await promisifyRequest(store.transaction)
      return result
    })
}

/**
 * A {@link Store} in memory, ordered like IndexedDB orders string keys (by UTF-16 code units):
 * the fallback where IndexedDB is missing or failing. Transactions run one after another.
 * Values are kept by reference: callers never mutate what they stored.
 */
export function memoryStore(): Store {
  const values = new Map<string, unknown>()
  let queue: Promise<unknown> = Promise.resolve()
  // Sorted when read: a fallback, read a batch at a time, not on any page's hot path.
  const within = ({ from, to }: KeySpan, limit?: number) =>
    [...values.keys()].filter((key) => key >= from && key < to).sort().slice(0, limit)
  const transaction: StoreTransaction = {
    getAll: async (span, limit) => within(span, limit).map((key) => values.get(key)) as never[],
    getAllKeys: async (span, limit) => within(span, limit),
    count: async (span) => within(span).length,
    get: async (key) => values.get(key) as never,
    put: (key, value) => values.set(key, value),
    delete: (key) => values.delete(key),
  }
  return (_mode, work) => {
    const run = queue.then(() => work(transaction))
    queue = run.catch(() => undefined)
    return run
  }
}

/** A {@link Store} that moves to memory for good on the durable store's first failure. */
export interface FallbackStore {
  run: Store
  /** Where data lives now. */
  readonly storage: 'indexeddb' | 'memory'
}

/**
 * Runs in `durable` (memory where it is undefined); on its first failure, tells `onFallback`,
 * switches to memory for good and runs the work there. What was stored durably stays there
 * for a later page; this one carries on without it.
 */
export function withFallback(durable: Store | undefined, onFallback: (error: unknown) => void): FallbackStore {
  let store = durable ?? memoryStore()
  let durableNow = !!durable
  return {
    async run(mode, work) {
      const used = store
      try {
        return await used(mode, work)
      } catch (error) {
        if (!durableNow && store === used) throw error
        // Another transaction may have switched already.
        if (store === used) {
          durableNow = false
          store = memoryStore()
          onFallback(error)
        }
        return store(mode, work)
      }
    },
    get storage() {
      return durableNow ? 'indexeddb' : 'memory'
    },
  }
}
