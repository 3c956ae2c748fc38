/**
 * The graceful stop of a Node proxy, in the order that loses nothing and sends nothing twice:
 * turn new requests away, answer those in flight (each waits at most the settle timeout), close
 * the Coalescer (which gives back the claims of engagements never sent), let the upstream
 * requests still out land and be acknowledged, then close the rest (Redis last but one).
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
  /** Closes what is left: the servers, Redis, the state file. */
  closeAll(): Promise<void>
}

/** Room beyond each timeout for the answer to be written, in ms. */
const GRACE_MS = 1_000
/** How often the stop looks whether the upstream requests landed, in ms. */
const POLL_MS = 20

/** Stops as {@link DrainPlan} says; resolves once everything is closed. */
export async function drain({ gate, proxy, pending, settleTimeout, upstreamTimeout, closeAll }: DrainPlan): Promise<void> {
  gate.close()
  await within(gate.idle(), settleTimeout + GRACE_MS)
  proxy.close()
  await landed(proxy, Date.now() + upstreamTimeout + GRACE_MS)
  await within(pending.settled(), GRACE_MS)
  await closeAll()
}

/** Resolves once no upstream request is awaiting its answer, or at `deadline`. */
async function landed(proxy: Proxy, deadline: number): Promise<void> {
  while ((proxy.stats()?.requestsInFlight ?? 0) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POLL_MS))
}

/** Waits for `promise`, or `ms`, whichever comes first. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}
