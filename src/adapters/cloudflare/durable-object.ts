/**
 * The Durable Object that holds the Coalescer of one API key for the whole world: every ingress
 * isolate hands it the engagements of a client request in one RPC call, so every upstream request
 * for the key passes one pacer and one memory of acknowledged ids, kept in the object's storage.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Coalescer, CoalescerStats, Parcel, SubmitOptions, SubmitResult } from '../../core/coalescer/index.js'
import { toHex } from '../../core/hex.js'
import { createSqlMemory, type SqlMemory, type SqlStorageLike } from './sql-memory.js'
import { createConversionCoalescer } from '../../proxy/conversion-coalescer.js'
import { readBindings, type WorkerEnv } from './env.js'

/** Most bytes the engagements waiting in the object may take: a quarter of the isolate's 128 MB. */
const OBJECT_HELD_BYTES = 32 * 1_048_576

/** The part of a Durable Object's state the object uses. */
interface ObjectState {
  storage: {
    sql: SqlStorageLike
    setAlarm(scheduledTime: number): Promise<void>
  }
}

/** The state workerd passes: its own type where `@cloudflare/workers-types` is loaded, ours otherwise. */
type ObjectContext = ConstructorParameters<typeof DurableObject>[0] & ObjectState

/**
 * One Coalescer per API key, shared by every isolate. Bind it as `COALESCER` and address it by
 * {@link coalescerName}, never by the key: object names show in dashboards and logs.
 *
 * RPC API:
 * - `submit(parcels, { client, deadlineMs })`: the valid engagements of ONE client request; resolves
 *   with a `SubmitResult` once each is settled upstream, or `busy`/`unavailable`. Never rejects.
 * - `stats()`: the Coalescer's state, for health checks.
 *
 * The object reads the key, the upstream URL and the rate from its own bindings (the same as the
 * Worker's). A Worker built on this package's `worker` entry must re-export this class from its
 * main module and declare it in a migration with `new_sqlite_classes`.
 */
export class EngagementCoalescer extends DurableObject<WorkerEnv> {
  readonly #coalescer: Coalescer
  readonly #memory: SqlMemory
  readonly #state: ObjectState

  constructor(ctx: ObjectContext, env: WorkerEnv) {
    super(ctx, env)
    this.#state = ctx
    const now = () => Date.now()
    this.#memory = createSqlMemory({ sql: ctx.storage.sql, now, schedule: (at) => this.#schedule(at) })
    const { apiKey, upstreamUrl, maxRequestsPerSecond } = readBindings(env)
    // The object lives across requests, so its timers and requests in flight serve every one.
    this.#coalescer = createConversionCoalescer({
      apiKey,
      upstreamUrl,
      now,
      maxRequestsPerSecond,
      memory: this.#memory,
      // The isolate's 128 MB serve every client of the key: what waits stays well inside it.
      maxHeldBytes: OBJECT_HELD_BYTES,
    })
  }

  /** Hands over the engagements of one client request, already validated by the ingress. */
  submit(parcels: Parcel[], options?: SubmitOptions): Promise<SubmitResult> {
    return this.#coalescer.submit(parcels, options)
  }

  /** The Coalescer's state and counters. */
  stats(): CoalescerStats {
    return this.#coalescer.stats()
  }

  /** Forgets expired acknowledged batches, and comes back when the next ones expire. */
  override async alarm(): Promise<void> {
    const next = this.#memory.cleanUp()
    if (next !== undefined) await this.#state.storage.setAlarm(next)
  }

  #schedule(at: number): void {
    // A lost alarm delays the clean-up until the object's next start, which sets one again;
    // meanwhile `has()` never counts an expired batch.
    this.#state.storage.setAlarm(at).catch(() => {})
  }
}

/**
 * The name of the object for an API key: a SHA-256 of the key, so the key itself never becomes
 * an object name, and a rotated key gets a fresh object.
 */
export async function coalescerName(apiKey: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(apiKey))
  return `sha256:${toHex(new Uint8Array(digest))}`
}
