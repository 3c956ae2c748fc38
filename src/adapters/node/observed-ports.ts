/**
 * The Coalescer's ports (its pacer, its memory, its fetch) seen from outside: what the metrics
 * count and what a graceful stop waits for. Each wrapper passes every call through unchanged.
 */
import type { DeliveryMemory, Reservation, SharedPacer } from '../../core/coalescer/index.js'
import { countInFlight } from './in-flight.js'

/** What the wrappers report. Each callback is optional and must not throw. */
export interface PortObserver {
  /** An upstream request was answered with `status`, or failed without an answer (`'error'`). */
  upstream?: ((status: string) => void) | undefined
  /** The pacer said to wait before the next start. */
  pacerWait?: (() => void) | undefined
  /** A call to a shared port (Redis) failed: the proxy fails closed meanwhile. */
  portError?: ((port: 'pacer' | 'memory') => void) | undefined
}

/** Calls to the ports that have not settled yet, so that a stop can wait for them. */
export interface PendingCalls {
  readonly count: number
  /** Resolves once no call is pending (at once when none is). */
  settled(): Promise<void>
}

/** The observed ports and what they are waiting on. */
export interface ObservedPorts {
  pacer: SharedPacer | undefined
  memory: DeliveryMemory | undefined
  fetch: typeof fetch
  pending: PendingCalls
}

/**
 * Wraps the ports given (an absent pacer or memory stays absent: the Coalescer then builds its
 * own, which has nothing to observe but waits, and the caller passes a local pacer to see those).
 */
export function observePorts(
  ports: { pacer?: SharedPacer | undefined; memory?: DeliveryMemory | undefined; fetch: typeof fetch },
  observer: PortObserver,
): ObservedPorts {
  const pending = pendingCalls()
  return {
    pacer: ports.pacer && observePacer(ports.pacer, observer, pending),
    memory: ports.memory && observeMemory(ports.memory, observer, pending),
    fetch: observeFetch(ports.fetch, observer),
    pending,
  }
}

function observeFetch(send: typeof fetch, observer: PortObserver): typeof fetch {
  return async (input, init) => {
    try {
      const response = await send(input, init)
      observer.upstream?.(String(response.status))
      return response
    } catch (error) {
      observer.upstream?.('error')
      throw error
    }
  }
}

function observePacer(pacer: SharedPacer, observer: PortObserver, pending: Tracker): SharedPacer {
  const seen = (reservation: Reservation): Reservation => {
    if (!reservation.granted) observer.pacerWait?.()
    return reservation
  }
  return {
    reserve: (now) =>
      pending.watch(
        () => pacer.reserve(now),
        seen,
        () => observer.portError?.('pacer'),
      ),
    ...(pacer.recent ? { recent: (now: number) => pacer.recent?.(now) ?? [] } : {}),
    ...(pacer.wait ? { wait: (now: number) => pacer.wait?.(now) ?? 0 } : {}),
  }
}

function observeMemory(memory: DeliveryMemory, observer: PortObserver, pending: Tracker): DeliveryMemory {
  const failed = () => observer.portError?.('memory')
  const same = <T>(value: T) => value
  return {
    recall: (keys, now) => pending.watch(() => memory.recall(keys, now), same, failed),
    acknowledge: (keys, at) => pending.watch(() => memory.acknowledge(keys, at), same, failed),
    release: (keys) => pending.watch(() => memory.release(keys), same, failed),
    size: () => memory.size(),
  }
}

interface Tracker extends PendingCalls {
  /**
   * Calls `call`; a plain value passes through `use` at once (a synchronous port stays
   * synchronous), a promise is counted as pending until it settles.
   */
  watch<T>(call: () => T | Promise<T>, use: (value: T) => T, failed: () => void): T | Promise<T>
}

function pendingCalls(): Tracker {
  const calls = countInFlight()
  return {
    get count() {
      return calls.count
    },
    settled: calls.idle,
    watch(call, use, failed) {
      let value: unknown
      try {
        value = call()
      } catch (error) {
        failed()
        throw error
      }
      if (typeof (value as { then?: unknown } | null)?.then !== 'function') return use(value as never)
      calls.start()
      return (value as Promise<never>).then(
        (resolved) => {
          calls.end()
          return use(resolved)
        },
        (error: unknown) => {
          calls.end()
          failed()
          throw error
        },
      )
    },
  }
}
