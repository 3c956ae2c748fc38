import { checkEmail, LIMITS } from '../contract.js'
import { createChannel, type Contact, type TabMessage } from './channel.js'
import { createDelivery, type RetryState } from './delivery.js'
import { buildEngagement, invalid, toEntry, withContact } from './engagement.js'
import { createEmitter } from './events.js'
import { createLeadership } from './leader.js'
import { watchLifecycle } from './lifecycle.js'
import { resolveOptions, type Platform, type TrackerOptions } from './options.js'
import { createOutbox, entryKey, type OutboxEntry } from './outbox.js'
import { browserPlatform } from './platform.js'
import { createSender } from './sender.js'
import { createServerTracker } from './server-tracker.js'
import { indexedDbStore, type Store } from './store.js'
import type { Tracker, TrackerError, TrackerStats } from './types.js'

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

/** The browser tracker on a given platform: {@link createTracker} without the server check. */
export function startTracker(options: TrackerOptions, platform: Platform): Tracker {
  const config = resolveOptions(options, platform)
  const namespace = `conversion-engagements:${config.name}`
  const { emit, subscribe } = createEmitter(config)
  const report = (error: TrackerError) => emit({ type: 'error', error })
  const fault = (what: string) => (error: unknown) =>
    report({ code: 'internal', message: `${what}: ${error instanceof Error ? error.message : String(error)}` })
  const counters = { sent: 0, retried: 0, rejected: 0, dropped: 0 }
  subscribe((event) => {
    if (event.type === 'rejected') counters.rejected++
    else if (event.type === 'sent' || event.type === 'retried' || event.type === 'dropped') {
      counters[event.type] += event.ids.length
    }
  })

  let durable: Store | undefined
  try {
    durable = platform.createStore && indexedDbStore(platform.createStore(namespace, 'outbox'))
  } catch {
    // Blocked storage can throw on open: memory takes over below.
  }
  const outbox = createOutbox({
    durable,
    maxQueueSize: config.maxQueueSize,
    maxHeld: config.maxHeld,
    now: platform.now,
    onDrop: (ids, reason) => emit({ type: 'dropped', ids, reason }),
    onFallback: (error) =>
      report({ code: 'storage', message: `IndexedDB failed (${String(error)}): queued in memory only from now on` }),
  })

  let contact: Contact | undefined
  let optedOut = false
  /** Set by calls made before what was stored is read: they win over it. */
  let contactSet = false
  let optOutSet = false
  let closing = false
  let sequence = 0
  const flushWaiters = new Map<string, () => void>()
  /**
   * Entries tracked here whose write has not completed. A page that closes aborts its unfinished
   * IndexedDB writes, so on the way out they are handed to the tab that sends (or beaconed, by it).
   */
  const unsaved = new Set<OutboxEntry>()
  /** Entries tracked since the last write was queued, which it will take. */
  let tracking: OutboxEntry[] | undefined

  const channel = createChannel(namespace, platform, (message) => void onMessage(message).catch(fault('message')))
  const leadership = createLeadership(
    `${namespace}:leader`,
    platform,
    (isLeader) => void (isLeader && lead().catch(fault('leading'))),
    (message) => report({ code: 'storage', message }),
  )
  const delivery = createDelivery({
    options: config,
    outbox,
    sender: createSender(config.endpoint, config.requestTimeout, platform),
    emit,
    isLeader: () => leadership.isLeader,
    optedOut: () => optedOut,
    announceSettled: (keys) => channel.post({ type: 'settled', keys }),
    saveRetry: (state) => void outbox.writeMeta('retry', state).catch(() => undefined),
  })

  /** Settles once what an earlier visit stored is known; every write waits for it. */
  const ready = Promise.all([
    outbox.readMeta<Contact>('contact'),
    outbox.readMeta<boolean>('opted-out'),
    outbox.readMeta<RetryState>('retry'),
  ]).then(
    ([storedContact, storedOptOut, storedRetry]) => {
      // Reported now rather than at creation, so that subscribers hear it.
      if (!durable) report({ code: 'storage', message: 'IndexedDB is unavailable: queued in memory only' })
      if (!contactSet) contact = storedContact
      if (!optOutSet) optedOut = !!storedOptOut
      delivery.restore(storedRetry)
    },
    () => undefined,
  )
  let lastWrite: Promise<unknown> = ready

  /** After `write` stores entries: tell whoever sends (from memory storage, hand them over). */
  const queue = (write: () => Promise<OutboxEntry[]>) => {
    lastWrite = ready
      .then(async () => {
        if (optedOut) {
          // Tracked before the stored opt-out was read: not kept, and the next call starts afresh.
          tracking = undefined
          unsaved.clear()
          return
        }
        const entries = (await write()).filter((entry) => entry.key[0] === 's')
        if (entries.length === 0) return
        if (leadership.isLeader) delivery.queued(entries.length)
        else channel.post({ type: 'appended', entries, durable: outbox.storage === 'indexeddb' })
      })
      .catch(fault('queueing'))
  }

  const releaseHeld = () =>
    queue(async () => {
      const known = contact
      return known ? outbox.release((entry) => withContact(entry, known)) : []
    })

  const lead = async () => {
    await ready
    delivery.restore(await outbox.readMeta<RetryState>('retry'))
    if (flushWaiters.size > 0) {
      await delivery.drain()
      for (const resolve of flushWaiters.values()) resolve()
      return
    }
    // What waits (from earlier visits, or tracked before this tab led) follows the usual
    // rule: sent at once from `flushAt` on, else within `flushInterval`.
    const { queued, held } = await outbox.count()
    if (queued > held) delivery.queued(queued - held)
  }

  const onMessage = async (message: TabMessage) => {
    const leader = leadership.isLeader
    switch (message.type) {
      case 'appended':
        // Opted out, a tab may still hand over what it tracked before: it is not kept.
        if (!leader || optedOut) return
        // Entries from a tab without IndexedDB live only in its memory: adopt them.
        if (message.durable) outbox.keep(message.entries)
        else await outbox.append(message.entries)
        delivery.queued(message.entries.length)
        return
      case 'settled':
        return outbox.settled(message.keys)
      case 'flush':
        if (!leader) return
        await delivery.drain()
        return channel.post({ type: 'flushed', nonce: message.nonce })
      case 'flushed':
        return flushWaiters.get(message.nonce)?.()
      case 'contact':
        contactSet = true
        contact = message.contact
        return
      case 'opt-out':
        optOutSet = true
        optedOut = message.optedOut
        if (optedOut) discardAfterOptOut()
    }
  }

  /** Drops what `clear` found, and tells this page's subscribers. */
  const discard = (clear: () => Promise<string[]>) => {
    lastWrite = ready
      .then(clear)
      .then((ids) => ids.length > 0 && emit({ type: 'dropped', ids, reason: 'opted-out' }))
      .catch(fault('opting out'))
  }

  /**
   * Another tab opted out and cleared the outbox. What this tab is still storing lands after that
   * clear, and what it keeps in memory is out of the clear's reach: both go here.
   */
  const discardAfterOptOut = () => {
    const late = [...unsaved]
    discard(() => outbox.clearedElsewhere(late))
  }

  const unwatch = watchLifecycle(platform, {
    hide: () =>
      leadership.isLeader
        ? delivery.beacon()
        : unsaved.size && channel.post({ type: 'appended', entries: [...unsaved], durable: false }),
    suspend() {
      leadership.leave()
      channel.close()
    },
    resume() {
      channel.open()
      leadership.join()
    },
    online: () => void delivery.drain(),
  })

  channel.open()
  void ready.then(() => {
    if (contact) releaseHeld()
    if (!closing) leadership.join()
  })

  const refusal = (): TrackerError | undefined =>
    closing
      ? { code: 'closed', message: 'the tracker was shut down' }
      : optedOut
        ? { code: 'opted-out', message: 'tracking is off: optOut() was called' }
        : undefined

  const flush = async (): Promise<void> => {
    await lastWrite
    await outbox.written().catch(() => undefined)
    if (leadership.isLeader) return delivery.drain()
    // Another tab sends: ask it, and stop waiting after a while if nobody answers.
    const nonce = platform.randomUUID()
    return new Promise<void>((resolve) => {
      const done = () => {
        flushWaiters.delete(nonce)
        resolve()
      }
      flushWaiters.set(nonce, done)
      channel.post({ type: 'flush', nonce })
      platform.setTimeout(done, config.requestTimeout * 2)
    })
  }

  const persist = (name: string, value: unknown, message: TabMessage) => {
    channel.post(message)
    void ready.then(() => outbox.writeMeta(name, value)).catch(fault('storing'))
  }

  const setContact = (next: Contact | undefined) => {
    contactSet = true
    contact = next
    persist('contact', next, { type: 'contact', contact: next })
  }

  const setOptOut = (value: boolean) => {
    optOutSet = true
    optedOut = value
    persist('opted-out', value || undefined, { type: 'opt-out', optedOut: value })
  }

  return {
    track(input) {
      try {
        const refused = refusal()
        if (refused) return { ok: false, error: refused }
        const built = buildEngagement(input, contact, platform.now(), platform.randomUUID)
        if ('error' in built) {
          report(built.error)
          return { ok: false, error: built.error }
        }
        const { engagement, signature } = built
        const held = !engagement.contactEmail
        const entry = toEntry(entryKey(held, platform.now(), sequence++, engagement.id), engagement, signature)
        unsaved.add(entry)
        if (!tracking) {
          const entries: OutboxEntry[] = (tracking = [])
          // One write, one notice to the sender for every engagement tracked until it starts.
          queue(async () => {
            tracking = undefined
            await outbox.append(entries)
            for (const written of entries) unsaved.delete(written)
            return entries
          })
        }
        tracking.push(entry)
        emit({ type: 'queued', id: engagement.id, held })
        return { ok: true, id: engagement.id }
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
      releaseHeld()
      return { ok: true }
    },

    reset: () => setContact(undefined),

    optOut() {
      setOptOut(true)
      discard(() => outbox.clear())
    },

    optIn: () => setOptOut(false),

    flush: () => flush().catch(fault('flush')),
    subscribe,

    async stats() {
      const stats: TrackerStats = {
        ...(await outbox.count().catch(() => ({ queued: 0, held: 0 }))),
        ...counters,
        inFlight: delivery.inFlight,
        leader: leadership.isLeader,
        storage: outbox.storage,
        online: platform.isOnline(),
        recentRequests: delivery.recentRequests(),
      }
      if (delivery.retryAt) stats.retryAt = delivery.retryAt
      if (delivery.halted) stats.halted = delivery.halted
      return stats
    },

    async shutdown() {
      if (closing) return
      closing = true
      await flush().catch(fault('flush'))
      delivery.stop()
      unwatch()
      leadership.leave()
      channel.close()
    },
  }
}
