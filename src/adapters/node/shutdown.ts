/**
 * How a Node proxy stops. Gracefully, in the order that loses nothing and sends nothing twice:
 * turn new requests away, answer those in flight (each waits at most the settle timeout), close
 * the Coalescer (which gives back the claims of engagements never sent), let the upstream
 * requests still out land (their pacer slots and acknowledgements go to Redis as each settles),
 * then close the rest, Redis last. Or at once: everything is closed now, and a graceful stop
 * under way stops waiting.
 */
import type { Proxy } from '../../proxy/proxy.js'
import type { PendingCalls } from './observed-ports.js'
import type { RequestGate } from './request-gate.js'

/** What a stop waits for and closes. */
export interface DrainPlan {
  gate: RequestGate
  proxy: Proxy
  /** Calls to the memory and pacer still out (acknowledgements, releases). */
  pending: PendingCalls
  /** The proxy's `settleTimeout`: no request in flight waits longer for its answer. */
  settleTimeout: number
  /** The proxy's `upstreamTimeout`: no upstream request is out longer. */
  upstreamTimeout: number
  /** Closes what is left: the Coalescer, the servers, then Redis or the state file. Called once. */
  closeAll(): Promise<void>
}

/** The two ways to stop one server. */
export interface Stops {
  /** The graceful stop; the same promise however often it is asked for. */
  shutdown(): Promise<void>
  /** Closes everything now, cutting short a graceful stop under way (which then resolves too). */
  close(): Promise<void>
}

/** Room beyond each timeout for the answer to be written, in ms. */
const GRACE_MS = 1_000
/** How often the stop looks whether the upstream requests landed, in ms. */
const POLL_MS = 20

/** The stops of the server `plan` describes. */
export function stopsOf(plan: DrainPlan): Stops {
  const atOnce = new AbortController()
  let closing: Promise<void> | undefined
  const closeAll = () => {
    closing ??= plan.closeAll()
    return closing
  }
  let draining: Promise<void> | undefined
  return {
    shutdown() {
      draining ??= drain({ ...plan, closeAll }, atOnce.signal)
      return draining
    },
    close() {
      atOnce.abort()
      return closeAll()
    },
  }
}

/** Stops as {@link DrainPlan} says, each wait cut short once `atOnce` aborts; resolves once everything is closed. */
async function drain({ gate, proxy, pending, settleTimeout, upstreamTimeout, closeAll }: DrainPlan, atOnce: AbortSignal): Promise<void> {
  gate.close()
  await within(gate.idle(), settleTimeout + GRACE_MS, atOnce)
  // Closing the Coalescer leaves the requests still out their pacer slots: each lands as it settles.
  proxy.close()
  await landed(proxy, Date.now() + upstreamTimeout + GRACE_MS, atOnce)
  await within(pending.settled(), GRACE_MS, atOnce)
  await closeAll()
}

/** Resolves once no upstream request is awaiting its answer, at `deadline`, or once `atOnce` aborts. */
async function landed(proxy: Proxy, deadline: number, atOnce: AbortSignal): Promise<void> {
  while ((proxy.stats()?.requestsInFlight ?? 0) > 0 && Date.now() < deadline && !atOnce.aborted) await pause(POLL_MS, atOnce)
}

/** Waits `ms`, or until `atOnce` aborts. */
function pause(ms: number, atOnce: AbortSignal): Promise<void> {
  return within(new Promise(() => {}), ms, atOnce)
}

/** Waits for `promise`, `ms`, or `atOnce` to abort, whichever comes first. */
async function within(promise: Promise<unknown>, ms: number, atOnce: AbortSignal): Promise<void> {
  if (atOnce.aborted) return
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort = () => {}
  await Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms)
      onAbort = () => resolve(undefined)
      atOnce.addEventListener('abort', onAbort, { once: true })
    }),
  ])
  clearTimeout(timer)
  atOnce.removeEventListener('abort', onAbort)
}
