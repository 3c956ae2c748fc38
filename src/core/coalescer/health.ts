/**
 * What the Coalescer knows of Conversion's health, and what it answers clients from it: one
 * backoff for everyone (the upstream is shared), a halt after Conversion refused the key, and
 * how long a client should wait before it sends again.
 */
import { retryDelay } from '../retry.js'
import type { CoalescerSettings } from './options.js'
import type { Refusal } from './types.js'

export class UpstreamHealth {
  /** No request starts before this time. */
  backoffUntil = -Infinity
  /** Failures in a row that set the backoff. */
  failures = 0
  private lastFailureAt = -Infinity
  halted: { reason: string; until: number } | undefined
  closed = false

  constructor(private readonly settings: CoalescerSettings) {}

  isHalted(now: number): boolean {
    return this.halted !== undefined && now < this.halted.until
  }

  /** Closed, or halted: nothing is sent and every client hears `unavailable`. */
  stopped(now: number): boolean {
    return this.closed || this.isHalted(now)
  }

  /** A request started at `startedAt` succeeded: evidence, newer than the last failure, that upstream works again. */
  succeeded(startedAt: number): void {
    if (startedAt >= this.lastFailureAt) this.failures = 0
  }

  /**
   * A request failed for now. Only a request started after the last failure raises the exponent:
   * requests that were in flight together fail together and count once.
   */
  failed(outcome: { afterMs?: number }, startedAt: number, now: number): void {
    if (startedAt >= this.lastFailureAt) this.failures++
    this.lastFailureAt = now
    const delayMs = retryDelay(outcome, this.failures - 1, this.settings.retry, this.settings.random)
    this.backoffUntil = Math.max(this.backoffUntil, now + delayMs)
  }

  halt(reason: string, now: number): void {
    this.halted = { reason, until: now + this.settings.haltCooldownMs }
  }

  /** Time until `waiting` engagements are sent at full rate, after the backoff: what a client should wait. */
  retryAfterMs(now: number, waiting: number): number {
    const { batchSize, requestsPerWindow, windowMs } = this.settings
    const drainMs = Math.ceil((Math.ceil(waiting / batchSize) / requestsPerWindow) * windowMs)
    return Math.max(windowMs, Math.max(0, this.backoffUntil - now) + drainMs)
  }

  /** The answer while closed or halted. */
  unavailable(now: number): Refusal {
    const { halted } = this
    if (this.closed || !halted) return { kind: 'unavailable', retryAfterMs: this.settings.windowMs, reason: 'The proxy is shutting down' }
    return {
      kind: 'unavailable',
      retryAfterMs: Math.max(0, halted.until - now),
      // Built from the upstream's status and message only, never from anything we were configured with.
      reason: `Conversion refused the proxy (${halted.reason}); sending is paused. Check the proxy's API key and upstream URL.`,
    }
  }
}
