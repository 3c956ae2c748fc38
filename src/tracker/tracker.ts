import { LIMITS } from '../contract.js'
import { createDelivery } from './delivery.js'
import { buildEngagement, checkEmail } from './engagement.js'
import { createEmitter } from './events.js'
import { watchLifecycle } from './lifecycle.js'
import { resolveOptions, type Platform, type TrackerOptions } from './options.js'
import { createOutbox, isHeld } from './outbox.js'
import { attempt, browserPlatform } from './platform.js'
import { createServerTracker } from './server-tracker.js'
import { createSession } from './session.js'
import { createSettings } from './settings.js'
import { indexedDbStore, withFallback } from './store.js'
import { createTabs } from './tabs.js'
import { invalid, type DropReason, type Tracker, type TrackerError, type TrackerStats } from './types.js'

/**
 * Creates the tracker. In a browser it starts at once: reads what an earlier visit stored,
 * joins the election of the tab that sends, and listens to the page's life. Anywhere else
 * (server rendering) it returns a tracker that records nothing and says so once.
 * @example
 * const tracker = createTracker({ endpoint: '/engagements' })
 * tracker.identify('john@example.com')
 * tracker.track({ type: 'PRODUCT_ACTIVITY', name: 'Product Demo Completed', data: { duration_minutes: 45 } })
 */
export function createTracker(options: TrackerOptions): Tracker {
  const platform = browserPlatform(options?.platform)
  return platform ? startTracker(options, platform) : createServerTracker()
}

/**
 * The browser tracker on a given platform: {@link createTracker} without the server check. It
 * wires the parts together (settings, session, outbox, tabs, delivery) and is the public facade.
 */
export function startTracker(options: TrackerOptions, platform: Platform): Tracker {
  // Reported after this call returns, so that subscribers hear them.
  const config = resolveOptions(options, platform, (error) => void Promise.resolve().then(() => emit({ type: 'error', error }, true)))
  const { namespace } = config
  const emitter = createEmitter(config)
  const { emit } = emitter
  const report = (error: TrackerError) => emit({ type: 'error', error })
  const fault = (what: string) => (error: unknown) => report({ code: 'internal', message: `${what}: ${error}` })
  /** Tells this page's subscribers which engagements left the outbox undelivered, and why. */
  const dropped = (ids: string[] | undefined, reason: DropReason) => ids?.length && emit({ type: 'dropped', ids, reason })

  /** Another tab opted out: drops what its clear could not reach. */
  const optedOutElsewhere = () => void outbox.clearedElsewhere().then((ids) => dropped(ids, 'opted-out'))
  /** Says that engagements live in this page's memory only, and why. */
  const memoryOnly = (why: string) => report({ code: 'storage', message: `IndexedDB ${why}: queued in memory only` })
  // Blocked storage can throw on open: memory takes over.
  const durable = attempt(() => platform.createStore && indexedDbStore(platform.createStore(namespace, 'outbox')))
  const store = withFallback(durable, (error) => memoryOnly(`failed (${error})`))
  const settings = createSettings(store.run)
  const session = createSession(settings, (message) => tabs.post(message))
  const outbox = createOutbox({
    store,
    options: config,
    session,
    onStored(entries) {
      if (tabs.isLeader) delivery.stored(entries.length)
      else tabs.post({ type: 'appended', entries, durable: store.storage === 'indexeddb' })
    },
    onDrop: dropped,
    onFault: fault('storing'),
  })

  const tabs = createTabs(namespace, platform, {
    on: {
      // Opted out, a tab may still hand over what it tracked before: it is not kept. From a tab
      // without IndexedDB, they live only in its memory: adopted, and counted once stored.
      appended: ({ entries, durable }) => tabs.isLeader && !session.optedOut && outbox.append(entries, durable),
      settled: ({ keys }) => outbox.removedElsewhere(keys),
      contact: session.heard,
      'opt-out'(message) {
        session.heard(message)
        if (message.optedOut) optedOutElsewhere()
      },
    },
    async lead(flushing) {
      // At once, before anything is sent: the slots the tab before this one held.
      delivery.lead()
      await ready
      delivery.state.restore(await settings.read('retry'))
      if (flushing) return delivery.drain()
      // What waits (from earlier visits, or tracked before this tab led) follows the usual
      // rule: sent at once from `flushAt` on, else within `flushInterval`.
      const { queued, held } = await outbox.count()
      if (queued > held) delivery.stored(queued - held)
    },
    drain: () => delivery.drain(),
    fault,
    warn: (message) => report({ code: 'storage', message }),
  })
  const delivery = createDelivery({ options: config, outbox, emit, tabs, session, settings, fault })

  /** Settles once what an earlier visit stored (contact, opt-out, backoff) is known; reads never fail (see withFallback). */
  const ready = Promise.all([session.ready, settings.read('retry').then(delivery.state.restore)]).then(
    // Reported now rather than at creation, so that subscribers hear it.
    () => durable || memoryOnly('is unavailable'),
  )

  let closing = false
  let suspended = false
  const unwatch = watchLifecycle(platform, {
    hide() {
      if (tabs.isLeader) return delivery.beacon()
      const entries = outbox.unsaved()
      if (entries.length) tabs.post({ type: 'appended', entries, durable: false })
    },
    suspend() {
      suspended = true
      tabs.leave()
    },
    resume() {
      suspended = false
      // Other tabs were not heard meanwhile: what they stored is read again before this tab may lead.
      tabs.listen()
      void session.reload().then(() => {
        if (session.optedOut) optedOutElsewhere()
        if (!closing && !suspended) tabs.enter()
      })
    },
    online: () => void delivery.drain(),
  })
  void ready.then(() => {
    // Held from an earlier visit, or tracked before the stored contact was read: theirs.
    if (session.contact) outbox.release(session.contact)
    if (!closing) tabs.enter()
  })

  const refusal = (): TrackerError | undefined =>
    closing
      ? { code: 'closed', message: 'the tracker is shut down' }
      : session.optedOut
        ? { code: 'opted-out', message: 'tracking is off (optOut)' }
        : undefined
  /** `error`, reported if it is the caller's mistake, as what a command returns. */
  const refused = (error: TrackerError) => {
    if (error.code === 'invalid') report(error)
    return { ok: false as const, error }
  }

  const flush = (): Promise<void> =>
    outbox
      .written()
      // Another tab sends: ask it, and stop waiting after a while if nobody answers.
      .then(() => (tabs.isLeader ? delivery.drain() : tabs.flushByLeader(config.requestTimeout * 2)))
      .catch(fault('flush'))

  return {
    track(input) {
      try {
        const now = platform.now()
        const built = refusal() ?? buildEngagement(input, session.contact, now, platform.randomUUID)
        if (!('engagement' in built)) return refused(built)
        const entry = outbox.add(built.engagement, built.signature, now)
        const { id } = entry.engagement
        // Nothing is made for nobody: a burst of calls allocates only what it stores.
        if (emitter.listening) emit({ type: 'queued', id, held: isHeld(entry) })
        return { ok: true, id }
      } catch (error) {
        return refused({ code: 'internal', message: `track failed: ${error}` })
      }
    },

    identify(email, options) {
      const signature = options?.signature
      const error =
        refusal() ??
        checkEmail(email) ??
        // Scripts are not typed: `identify(email, signature)` must not drop the signature silently.
        (options !== undefined && typeof options !== 'object'
          ? invalid('options', 'type', 'must be an object')
          : signature !== undefined && !(typeof signature === 'string' && signature && signature.length <= LIMITS.signatureLength)
            ? invalid('signature', 'format', `must be 1 to ${LIMITS.signatureLength} characters`)
            : undefined)
      if (error) return refused(error)
      const contact = { email, signature }
      session.change({ type: 'contact', contact })
      // This contact's, whatever reset() or another tab's identify() does before the release runs.
      outbox.release(contact)
      return { ok: true }
    },

    reset: () => session.change({ type: 'contact', contact: undefined }),

    optOut() {
      session.change({ type: 'opt-out', optedOut: true })
      void outbox.clear().then((ids) => dropped(ids, 'opted-out'))
    },

    optIn: () => session.change({ type: 'opt-out', optedOut: false }),

    flush,
    subscribe: emitter.subscribe,

    stats: async (): Promise<TrackerStats> => ({
      // Never rejects: a failing IndexedDB leaves the count to memory.
      ...(await outbox.count()),
      ...emitter.counters,
      ...delivery.state.stats(platform.now()),
      leader: tabs.isLeader,
      storage: store.storage,
      online: platform.isOnline(),
    }),

    async shutdown() {
      if (closing) return
      closing = true
      await flush()
      delivery.stop()
      unwatch()
      tabs.leave()
    },
  }
}
