/**
 * The Coalescer's driver: owns the timers, the promises and the calls to its ports (the upstream,
 * the pacer, the memory), and does what {@link CoalescerState} decides. It holds no decision of
 * its own beyond "ask again when the state says so".
 */
import { unanswered, type Outcome } from '../outcome.js'
import { resolveCoalescerOptions, type CoalescerOptions } from './options.js'
import { CoalescerState, type Departure, type Effects } from './state.js'
import type { Coalescer, CoalescerStats, PacerSlot, Reservation, SubmitResult } from './types.js'

/**
 * Creates a Coalescer for one API key: in a Node proxy, one per process; on Cloudflare, one per
 * Durable Object, so that a single object paces every isolate.
 * @example
 * const coalescer = createCoalescer({ send, clock, random: Math.random })
 * const result = await coalescer.submit(parcels, { client: address })
 * if (result.kind === 'settled') respond(200, result)
 */
export function createCoalescer(options: CoalescerOptions): Coalescer {
  const settings = resolveCoalescerOptions(options)
  const { clock, memory, pacer } = settings
  const state = new CoalescerState(settings)
  const callers = new Map<number, (result: SubmitResult) => void>()
  const deadlines = new Map<number, unknown>()
  let wake: { at: number; handle: unknown } | undefined
  let reserving = false

  const perform = ({ answers, recall, acknowledge, release, deadlines: due }: Effects): void => {
    for (const { submit, ms } of due) {
      deadlines.set(
        submit,
        clock.setTimeout(() => act((now) => state.expire(now, submit, ms)), ms),
      )
    }
    for (const [submit, result] of answers) {
      clock.clearTimeout(deadlines.get(submit))
      deadlines.delete(submit)
      callers.get(submit)?.(result)
      callers.delete(submit)
    }
    for (const { token, keys } of recall) {
      settle(
        () => memory.recall(keys, clock.now()),
        (verdicts) => act((now) => state.recalled(now, token, verdicts)),
        () => act((now) => state.recalled(now, token, undefined)),
      )
    }
    for (const keys of acknowledge) {
      settle(
        () => memory.acknowledge(keys, clock.now()),
        () => act(() => state.remembered(keys, false)),
        () => act(() => state.remembered(keys, true)),
      )
    }
    // A claim that cannot be given up expires by itself.
    if (release.length > 0)
      settle(
        () => memory.release(release),
        () => {},
        () => {},
      )
  }

  /** Runs one decision, carries out what it says, and sees whether a request can start. */
  const act = (decide: (now: number) => void): void => {
    decide(clock.now())
    perform(state.takeEffects())
    pump()
  }

  /** One timer at most: the earliest moment the state needs attention. */
  const wakeAt = (at: number): void => {
    if (wake && wake.at <= at) return
    if (wake) clock.clearTimeout(wake.handle)
    wake = undefined
    if (at === Infinity) return
    wake = {
      at,
      handle: clock.setTimeout(
        () => {
          wake = undefined
          act((now) => state.poll(now))
        },
        Math.max(0, at - clock.now()),
      ),
    }
  }

  /** Starts every request the state and the pacer allow, one reservation at a time. */
  const pump = (): void => {
    const now = clock.now()
    if (reserving || !state.canStart(now)) {
      wakeAt(state.wakeAt(now))
      return
    }
    reserving = true
    settle(
      () => pacer.reserve(now),
      (reservation) => {
        reserving = false
        reserved(reservation)
      },
      () => {
        reserving = false
        // The pacer could not answer: ask again a moment later rather than start unpaced.
        wakeAt(clock.now() + settings.windowMs)
      },
    )
  }

  const reserved = (reservation: Reservation): void => {
    const now = clock.now()
    if (!reservation.granted) {
      // `Infinity`: room comes with an answer still awaited, and that answer pumps again.
      wakeAt(Math.min(now + reservation.waitMs, state.wakeAt(now)))
      return
    }
    const departure = state.depart(now)
    if (!departure) {
      reservation.slot.land(now)
      wakeAt(state.wakeAt(now))
      return
    }
    start(departure, reservation.slot)
    pump()
  }

  const start = ({ request, parcels }: Departure, slot: PacerSlot): void => {
    let answer: Promise<Outcome>
    try {
      answer = settings.send(parcels)
    } catch (error) {
      answer = Promise.reject(error)
    }
    answer
      // Its message may quote anything (even a request); the client hears only that it failed.
      .catch(() => unanswered('the upstream call failed'))
      .then((outcome) => {
        // Landed here only, closed or not: until its request has settled (answered, timed out or
        // aborted), it could still reach Conversion, so a shared pacer must keep counting it.
        slot.land(clock.now())
        act((now) => state.answered(now, request, outcome))
      })
  }

  return {
    submit(parcels, submitOptions) {
      return new Promise((resolve) => {
        const submit = state.submit(clock.now(), parcels, submitOptions)
        callers.set(submit, resolve)
        perform(state.takeEffects())
        pump()
      })
    },
    stats(): CoalescerStats {
      const now = clock.now()
      const { health } = state
      const halted = health.isHalted(now) ? health.halted : undefined
      return {
        backlog: state.scheduler.waiting,
        inFlight: state.flights.engagements,
        requestsInFlight: state.flights.requests,
        held: state.ledger.held.size,
        maxBacklog: settings.maxBacklog,
        heldBytes: state.ledger.heldBytes,
        maxHeldBytes: settings.maxHeldBytes,
        clients: state.ledger.clients,
        openSubmits: state.ledger.open.size,
        window: {
          starts: pacer.recent?.(now).length ?? 0,
          limit: settings.requestsPerWindow,
          windowMs: settings.windowMs,
          nextStartInMs: pacer.wait?.(now) ?? 0,
        },
        maxBatchBytes: state.scheduler.batchBytes,
        backoffMs: Math.max(0, health.backoffUntil - now),
        failures: health.failures,
        halted: halted && { reason: halted.reason, retryAfterMs: halted.until - now },
        remembered: memory.size(),
        refusals: state.refusals.size,
        totals: { ...state.totals },
      }
    },
    close() {
      if (state.health.closed) return
      if (wake) clock.clearTimeout(wake.handle)
      wake = undefined
      // Requests still out keep their pacer slots: each lands when its request settles.
      state.close(clock.now())
      perform(state.takeEffects())
    },
  }
}

/**
 * Calls `use` with what `produce` returns: at once when it is a value, when it resolves when it is
 * a promise. A synchronous port stays synchronous, so nothing waits a tick for nothing.
 */
function settle<T>(produce: () => T | PromiseLike<T>, use: (value: T) => void, fail: (error: unknown) => void): void {
  let value: T | PromiseLike<T>
  try {
    value = produce()
  } catch (error) {
    fail(error)
    return
  }
  if (typeof (value as { then?: unknown } | null)?.then === 'function') (value as PromiseLike<T>).then(use, fail)
  else use(value as T)
}
