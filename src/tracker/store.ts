import { promisifyRequest, type UseStore } from 'idb-keyval'

/** Keys from `start` (inclusive) up to `end` (exclusive), in string order. */
export interface KeySpan {
  start: string
  end: string
}

/** What a transaction can read of a span: its values, its keys or how many there are, as IDBObjectStore names them. */
export type SpanRead = 'getAll' | 'getAllKeys' | 'count'

/** One transaction's operations: the few an ordered outbox needs, for IndexedDB and memory alike. */
export interface StoreTransaction {
  /** The values (`getAll`) or keys (`getAllKeys`) of up to `limit` records of `span`, in key order, or how many it holds (`count`). */
  read<T>(what: 'getAll', span: KeySpan, limit?: number): Promise<T[]>
  read(what: 'getAllKeys', span: KeySpan, limit?: number): Promise<string[]>
  read(what: 'count', span: KeySpan): Promise<number>
  put(key: string, value: unknown): void
  delete(key: string): void
}

/** Runs `work` in one transaction; resolves with its result once the transaction is committed. */
export type Store = <T>(mode: IDBTransactionMode, work: (tx: StoreTransaction) => Promise<T>) => Promise<T>

/** A {@link Store} on an idb-keyval custom store (one database, one object store). */
export function indexedDbStore(useStore: UseStore): Store {
  return (mode, work) =>
    useStore(mode, async (store) => {
      const result = await work({
        read: (what: SpanRead, { start, end }: KeySpan, limit?: number) =>
          promisifyRequest((store[what] as IDBObjectStore['getAll'])(IDBKeyRange.bound(start, end, false, true), limit)),
        put: (key: string, value: unknown) => store.put(value, key),
        delete: (key: string) => store.delete(key),
      } as unknown as StoreTransaction)
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
  const transaction = {
    // Sorted when read: a fallback, read a batch at a time, not on any page's hot path.
    read: async (what: SpanRead, { start, end }: KeySpan, limit?: number) => {
      const keys = [...values.keys()]
        .filter((key) => key >= start && key < end)
        .sort()
        .slice(0, limit)
      return what === 'count' ? keys.length : what === 'getAll' ? keys.map((key) => values.get(key)) : keys
    },
    put: (key: string, value: unknown) => values.set(key, value),
    delete: (key: string) => values.delete(key),
  } as unknown as StoreTransaction
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
 * for a later page; this one carries on without it. So `run` rejects only when the work
 * itself throws: callers whose work cannot throw need no handler of their own.
 */
export function withFallback(durable: Store | undefined, onFallback: (error: unknown) => void): FallbackStore {
  let store = durable ?? memoryStore()
  return {
    async run(mode, work) {
      const used = store
      try {
        return await used(mode, work)
      } catch (error) {
        // Memory fails only with the work's own error.
        if (used !== durable) throw error
        // Another transaction may have switched already.
        if (store === used) {
          store = memoryStore()
          onFallback(error)
        }
        return store(mode, work)
      }
    },
    get storage() {
      return store === durable ? 'indexeddb' : 'memory'
    },
  }
}
