import { checkEmail, LIMITS } from '../contract.js'
import { createDelivery } from './delivery.js'
import { buildEngagement } from './engagement.js'
import { countOutcomes, createEmitter } from './events.js'
import { createIntake } from './intake.js'
import { watchLifecycle } from './lifecycle.js'
import { resolveOptions, type Platform, type TrackerOptions } from './options.js'
import { createOutbox, isHeld } from './outbox.js'
import { browserPlatform } from './platform.js'
import { createSender } from './sender.js'
import { createServerTracker } from './server-tracker.js'
import { createSession } from './session.js'
import { createSettings } from './settings.js'
import { indexedDbStore, withFallback, type Store } from './store.js'
import { createTabs } from './tabs.js'
import { invalid, type Tracker, type TrackerError, type TrackerStats } from './types.js'

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
 * wires the parts together (outbox, session, tabs, intake, delivery) and is the public facade.
 */
export function startTracker(options: TrackerOptions, platform: Platform): Tracker {
  const invalidOptions: TrackerError[] = []
  const config = resolveOptions(options, platform, (error) => invalidOptions.push(error))
  const namespace = `conversion-engagements:${config.name}`
  const { emit, subscribe } = createEmitter(config)
  const report = (error: TrackerError) => emit({ type: 'error', error })
  const fault = (what: string) => (error: unknown) =>
    report({ code: 'internal', message: `${what}: ${error instanceof Error ? error.message : String(error)}` })
  const counters = countOutcomes(subscribe)
  // After this call returns, so that subscribers hear them.
  void Promise.resolve().then(() => invalidOptions.forEach((error) => emit({ type: 'error', error }, true)))

  let durable: Store | undefined
  try {
    durable = platform.createStore && indexedDbStore(platform.createStore(namespace, 'outbox'))
  } catch {
    // Blocked storage can throw on open: memory takes over.
  }
  const store = withFallback(durable, (error) =>
    report({ code: 'storage', message: `IndexedDB failed (${String(error)}): queued in memory only from now on` }),
  )
  const settings = createSettings(store.run)
  const outbox = createOutbox({
    store,
    maxQueueSize: config.maxQueueSize,
    maxHeld: config.maxHeld,
    now: platform.now,
    onDrop: (ids, reason) => emit({ type: 'dropped', ids, reason }),
  })

  const tabs = createTabs(namespace, platform, {
    on: {
      async appended({ entries, durable }) {
        // Opted out, a tab may still hand over what it tracked before: it is not kept.
        if (!tabs.isLeader || session.optedOut) return
        // Entries from a tab without IndexedDB live only in its memory: adopt them.
        if (durable) outbox.keep(entries)
        else await outbox.append(entries)
        delivery.queued(entries.length)
      },
      settled: ({ keys }) => outbox.removedElsewhere(keys),
      contact: ({ contact }) => session.setContact(contact),
      'opt-out'({ optedOut }) {
        session.setOptOut(optedOut)
        if (optedOut) intake.clearedElsewhere()
      },
    },
    async lead(flushing) {
      await ready
      delivery.state.restore(await settings.read('retry'))
      if (flushing) return delivery.drain()
      // What waits (from earlier visits, or tracked before this tab led) follows the usual
      // rule: sent at once from `flushAt` on, else within `flushInterval`.
      const { queued, held } = await outbox.count()
      if (queued > held) delivery.queued(queued - held)
    },
    drain: () => delivery.drain(),
    fault,
    warn: (message) => report({ code: 'storage', message }),
  })
  const { state: session, loaded, setContact, setOptOut } = createSession(settings, tabs.post, fault('storing'))
  const delivery = createDelivery({
    options: config,
    outbox,
    sender: createSender(config.endpoint, config.requestTimeout, platform),
    emit,
    tabs,
    session,
    announceRemoved: (entries) => tabs.post({ type: 'settled', keys: entries.map((entry) => entry.key) }),
    saveRetry: (state) => void settings.write('retry', state).catch(() => undefined),
  })

  /** Settles once what an earlier visit stored is known; every write waits for it. */
  const ready = Promise.all([loaded, settings.read('retry').then(delivery.state.restore)]).then(
    // Reported now rather than at creation, so that subscribers hear it.
    () => durable || report({ code: 'storage', message: 'IndexedDB is unavailable: queued in memory only' }),
    () => undefined,
  )
  const intake = createIntake({
    outbox,
    ready,
    session,
    stored(entries) {
      if (tabs.isLeader) delivery.queued(entries.length)
      else tabs.post({ type: 'appended', entries, durable: outbox.storage === 'indexeddb' })
    },
    emit,
    fault,
  })

  let closing = false
  const unwatch = watchLifecycle(platform, {
    hide() {
      if (tabs.isLeader) return delivery.beacon()
      const unsaved = intake.unsaved()
      if (unsaved.length > 0) tabs.post({ type: 'appended', entries: unsaved, durable: false })
    },
    suspend: tabs.leave,
    resume: tabs.join,
    online: () => void delivery.drain(),
  })
  tabs.listen()
  void ready.then(() => {
    if (session.contact) intake.release()
    if (!closing) tabs.join()
  })

  const refusal = (): TrackerError | undefined =>
    closing
      ? { code: 'closed', message: 'the tracker was shut down' }
      : session.optedOut
        ? { code: 'opted-out', message: 'tracking is off: optOut() was called' }
        : undefined

  const flush = async (): Promise<void> => {
    await intake.written()
    await outbox.written().catch(() => undefined)
    // Another tab sends: ask it, and stop waiting after a while if nobody answers.
    return tabs.isLeader ? delivery.drain() : tabs.flushByLeader(config.requestTimeout * 2)
  }

  return {
    track(input) {
      try {
        const refused = refusal()
        if (refused) return { ok: false, error: refused }
        const now = platform.now()
        const built = buildEngagement(input, session.contact, now, platform.randomUUID)
        if ('error' in built) {
          report(built.error)
          return { ok: false, error: built.error }
        }
        const entry = intake.add(built.engagement, built.signature, now)
        const { id } = entry.engagement
        emit({ type: 'queued', id, held: isHeld(entry) })
        return { ok: true, id }
      } catch (error) {
        const failure: TrackerError = { code: 'internal', message: `track failed: ${String(error)}` }
        report(failure)
        return { ok: false, error: failure }
      }
    },

    identify(email, options) {
      const signature = options?.signature
      const violation = checkEmail(email)
      const error =
        refusal() ??
        (violation
          ? invalid(violation.field, violation.rule, violation.message)
          : // Scripts are not typed: `identify(email, signature)` must not drop the signature silently.
            options !== undefined && typeof options != 'object'
            ? invalid('options', 'type', 'options must be an object')
            : signature !== undefined &&
              (typeof signature !== 'string' || !signature || signature.length > LIMITS.signatureLength)
            ? invalid('signature', 'format', `signature must be 1 to ${LIMITS.signatureLength} characters`)
            : undefined)
      if (error) {
        if (error.code === 'invalid') report(error)
        return { ok: false, error }
      }
      setContact(signature ? { email, signature } : { email })
      intake.release()
      return { ok: true }
    },

    reset: () => setContact(undefined),

    optOut() {
      setOptOut(true)
      intake.clear()
    },

    optIn: () => setOptOut(false),

    flush: () => flush().catch(fault('flush')),
    subscribe,

    stats: async (): Promise<TrackerStats> => ({
      ...(await outbox.count().catch(() => ({ queued: 0, held: 0 }))),
      ...counters,
      ...delivery.state.stats(platform.now()),
      leader: tabs.isLeader,
      storage: outbox.storage,
      online: platform.isOnline(),
    }),

    async shutdown() {
      if (closing) return
      closing = true
      await flush().catch(fault('flush'))
      delivery.stop()
      unwatch()
      tabs.leave()
    },
  }
}
