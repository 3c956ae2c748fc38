import { createDeliveryState, type DeliveryState } from './delivery-state.js'
import { idsOf, type Effects, type Outgoing } from './delivery-steps.js'
import type { ResolvedOptions } from './options.js'
import type { Outbox, OutboxEntry } from './outbox.js'
import { requestBody } from './request.js'
import { createSender, type SendResult } from './sender.js'
import type { SettingsStore } from './settings.js'
import type { Tabs } from './tabs.js'
import type { TrackerEvent } from './types.js'

/** What the sending machinery needs from the tracker around it. */
export interface DeliveryContext {
  options: ResolvedOptions
  outbox: Outbox
  emit: (event: TrackerEvent) => void
  /** Whether this tab sends for the origin right now, and how it tells the others which entries are gone. */
  tabs: Pick<Tabs, 'isLeader' | 'post'>
  /** Whether tracking is off: nothing is sent then, not even what a tab stored after the clear. */
  session: { readonly optedOut: boolean }
  /** Where the backoff is stored, so a reload does not retry early. */
  settings: SettingsStore
  /** Reports a bug: what failed, then the error. */
  fault: (what: string) => (error: unknown) => void
}

/** The leader's sending machinery. */
export interface Delivery {
  /** The decisions it acts on: for backoff read from storage, and for `stats()`. */
  readonly state: DeliveryState
  /** Sends what is sendable now; resolves when none is left, or all of it waits for a retry. */
  drain(): Promise<void>
  /** `count` engagements were stored: send at `flushAt`, else within `flushInterval`. */
  stored(count: number): void
  /** This tab now sends for the origin: it takes over the pacer's slots the tab before it held. */
  lead(): void
  /** The page is being hidden or left: hands what is unsent to the browser in beacons. */
  beacon(): void
  stop(): void
}

/**
 * The driver of the delivery decisions (delivery-state.ts): it owns the timers, the outbox
 * reads, the requests and the promises, and does what the state says, one step at a time.
 */
export function createDelivery(context: DeliveryContext): Delivery {
  const { options, outbox, emit, tabs, session } = context
  const { platform } = options
  const sender = createSender(options)
  /** Where the pacer's slots are shared with the tab that sends next. */
  const pacingKey = `${options.namespace}:pacing`
  const state = createDeliveryState(options, platform.random)
  const requests = new Set<Promise<void>>()
  let running: Promise<void> | undefined
  let flushTimer: unknown
  let wakeTimer: unknown
  /** Ends the pass's current wait: something changed (an answer, entries stored, a stop). After the wait ended it changes nothing. */
  let poke = () => {}

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = ms < Infinity ? platform.setTimeout(resolve, ms) : undefined
      poke = () => {
        platform.clearTimeout(timer)
        resolve()
      }
    })

  const wakeIn = (ms: number) => {
    platform.clearTimeout(wakeTimer)
    wakeTimer = platform.setTimeout(drain, ms)
  }

  /** Tells the tab that sends next which pacer slots are still taken (only the leader's count). */
  const share = () => {
    try {
      if (tabs.isLeader) platform.localStorage?.setItem(pacingKey, state.shared().join())
    } catch {
      // Full or blocked storage: the next leader paces from its own slots.
    }
  }

  const apply = async ({ remove, saveRetry, events = [], wakeInMs }: Effects) => {
    if (remove?.length) {
      const keys = remove.map((entry) => entry.key)
      await outbox.remove(keys)
      tabs.post({ type: 'settled', keys })
    }
    if (saveRetry) void context.settings.write('retry', saveRetry)
    events.forEach(emit)
    if (wakeInMs !== undefined) wakeIn(wakeInMs)
  }

  const answered = (outgoing: Outgoing, result: SendResult) => {
    const effects = state.answer(outgoing, result, platform.now(), platform.isOnline())
    share()
    // The next request need not wait for this one's entries to leave the outbox.
    poke()
    return apply(effects)
  }

  const send = (outgoing: Outgoing) => {
    share()
    emit({ type: 'request', transport: 'fetch', ids: idsOf(outgoing.entries), bytes: outgoing.body.length })
    const request: Promise<void> = sender
      .send(outgoing.body)
      // The sender never rejects: a failure here is a bug of acting on the answer, which was
      // counted once already (answering it again would free its pacer slot twice).
      .then((result) => answered(outgoing, result))
      .catch(context.fault('answer'))
      .finally(() => {
        state.finish(outgoing)
        requests.delete(request)
        poke()
      })
    requests.add(request)
  }

  const pass = async () => {
    state.begin()
    for (;;) {
      const step = state.next(platform.now(), tabs.isLeader && !session.optedOut && platform.isOnline())
      if (step.kind === 'done') break
      if (step.kind === 'wait') await wait(step.ms)
      else if (step.kind === 'read') await apply(state.read(await outbox.head(step.after, step.limit), platform.now()))
      else send(step.outgoing)
    }
    await Promise.all(requests)
    const wakeInMs = state.wakeAfterPass(platform.now())
    if (wakeInMs !== undefined) wakeIn(wakeInMs)
  }

  const drain = (): Promise<void> => {
    // A pass reads all that is stored: the `flushInterval` timer has nothing left to do.
    platform.clearTimeout(flushTimer)
    flushTimer = undefined
    if (running) {
      state.askAgain()
      poke()
      return running
    }
    running = pass()
      .catch(context.fault('sending failed'))
      .finally(() => {
        running = undefined
        // A call made while the pass was finishing (it found itself blocked, then waited for the
        // last answers) would be lost: back from the back/forward cache, say.
        if (state.owed) void drain()
      })
    return running
  }

  return {
    state,
    drain,
    stored(count) {
      const flushNow = state.stored(count)
      // A pass under way sends them too, as soon as its pacer and its requests out allow.
      poke()
      if (flushNow) void drain()
      else flushTimer ??= platform.setTimeout(drain, options.flushInterval)
    },
    lead() {
      try {
        state.adopt((platform.localStorage?.getItem(pacingKey) ?? '').split(',').map(Number))
      } catch {
        // Blocked storage: nothing to take over.
      }
    },
    beacon() {
      if (session.optedOut) return
      const now = platform.now()
      const carried: OutboxEntry[] = []
      for (const entries of state.beacons(outbox.unsent(), now)) {
        const body = requestBody(entries)
        if (!sender.beacon(body)) break
        emit({ type: 'request', transport: 'beacon', ids: idsOf(entries), bytes: body.length })
        carried.push(...entries)
      }
      share()
      if (carried.length) void outbox.markBeaconed(carried, now)
    },
    stop() {
      state.stop()
      platform.clearTimeout(flushTimer)
      platform.clearTimeout(wakeTimer)
      poke()
    },
  }
}
