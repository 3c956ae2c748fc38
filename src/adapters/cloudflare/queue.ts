/**
 * Queue mode: the ingress answers once a client request's engagements are enqueued (durability
 * is then the queue's), and ONE consumer drains the queue through the Durable Object, so the
 * object sees a steady stream of full batches however many clients send at once.
 */
import { LIMITS, type Settlement } from '../../contract.js'
import { splitIntoBatches } from '../../core/batch.js'
import type { Parcel, SubmitResult } from '../../core/coalescer/index.js'
import { utf8Length } from '../../core/json.js'
import type { ProxyLogger } from '../../proxy/options.js'
import type { DeadLetter, QueuedEngagements, QueueProducer, Submitter } from './env.js'
import { describeLetter, readMessage, sortSettled } from './queued-message.js'

/** One delivered message, as far as the consumer uses it. */
export interface QueueMessageLike {
  readonly body: unknown
  /** Deliveries so far, this one included (1 on the first). */
  readonly attempts: number
  ack(): void
  retry(options?: { delaySeconds?: number }): void
}

/** One batch of delivered messages, as far as the consumer uses it. */
export interface QueueBatchLike {
  readonly messages: readonly QueueMessageLike[]
}

/**
 * Largest message body, in bytes of JSON: Queues takes 128 KB (of 1,000 bytes) per message,
 * about 100 bytes of which are its own. A client request of the proxy's 1 MiB is split.
 */
const MESSAGE_BYTES = 120_000
/** A `sendBatch` takes at most 100 messages and 256 KB in all. */
const SEND_BATCH_MESSAGES = 100
const SEND_BATCH_BYTES = 250_000
const ENVELOPE_BYTES = utf8Length('{"parcels":}')
/** What a parcel adds to a message besides its JSON text: its id, digest, sizes and the keys. */
const PARCEL_OVERHEAD_BYTES = 220

/**
 * How long the consumer lets the object work on one message before taking it back as `busy`, in
 * ms: long enough to ride out an upstream backoff, short enough that a stuck upstream hands the
 * message back to the queue (which keeps it durably) instead of holding the only consumer.
 */
export const CONSUMER_DEADLINE_MS = 30_000
/**
 * Most engagements the consumer leaves unsettled at the object at once: 5 s of upstream work at
 * 2,000 a second, so every window finds a full backlog, and well under the object's backlog
 * (15,920), which leaves room for requests that reach it directly.
 */
const OUTSTANDING_ENGAGEMENTS = 10_000
/** Longest delay before a message is offered again, in seconds. */
const MAX_RETRY_DELAY_S = 3_600

/**
 * The ingress side of queue mode: enqueues the valid engagements of one client request (one
 * message, or a few when they exceed a message's size) and answers `settled` once the queue has
 * them, each id counted once (`duplicates` are repeats inside the request; re-sends of earlier
 * requests are recognised later, by the object). If the queue refuses, the client is told
 * `busy` and keeps its engagements.
 */
export function queueSubmitter(queue: QueueProducer<QueuedEngagements>): Submitter {
  return {
    async submit(parcels) {
      // The first of an id is queued; a repeat is a duplicate, or a conflict when its content differs.
      const first = new Map<string, Parcel>()
      const rejected: Settlement['rejected'] = []
      for (const parcel of parcels) {
        const earlier = first.get(parcel.id)
        if (!earlier) first.set(parcel.id, parcel)
        else if (earlier.digest !== parcel.digest) {
          rejected.push({
            id: parcel.id,
            reason: `id ${JSON.stringify(parcel.id)} is used twice in this request with different content: give each engagement its own id`,
          })
        }
      }
      const unique = [...first.values()]
      const limits = { maxCount: LIMITS.batchSize, maxBytes: MESSAGE_BYTES, envelopeBytes: ENVELOPE_BYTES }
      const messages = splitIntoBatches(unique, limits, (parcel) => parcel.wireBytes + PARCEL_OVERHEAD_BYTES).map(
        (part): QueuedEngagements => ({ parcels: part }),
      )
      try {
        const [only] = messages
        if (messages.length === 1 && only) await queue.send(only, { contentType: 'json' })
        else await sendAll(queue, messages)
      } catch {
        return { kind: 'busy', retryAfterMs: 1_000, reason: 'the queue did not take the engagements' }
      }
      return { kind: 'settled', accepted: unique.length, duplicates: parcels.length - unique.length - rejected.length, rejected }
    },
  }
}

/** Options of {@link drainQueue}. */
export interface DrainOptions {
  /** Where the engagements go: the Durable Object (or, without it, this isolate's Coalescer). */
  coalescer: Submitter
  /** Where refused engagements go, with their reason; without it they are logged. */
  deadLetters: QueueProducer<DeadLetter> | undefined
  /** The engagements' queue, where those left unchecked go back alone; without it they are refused. */
  requeue?: QueueProducer<QueuedEngagements> | undefined
  logger: ProxyLogger
  /** Wall-clock time in epoch ms, for the dead letters' `at`. */
  now: () => number
}

/**
 * The consumer: hands each message (one client request) to the object in one RPC call, many at
 * once so the object packs them together, then acks a message once its engagements are settled
 * (refused ones written to the dead-letter queue first), and retries it with a delay on `busy`
 * or `unavailable`. Never throws: each message gets its own verdict.
 */
export async function drainQueue(batch: QueueBatchLike, options: DrainOptions): Promise<void> {
  const { coalescer, deadLetters, requeue, logger, now } = options
  const outcomes = await submitAll(batch.messages, coalescer)

  const at = new Date(now()).toISOString()
  const letters: { message: QueueMessageLike; letter: DeadLetter }[] = []
  const unwritten = new Set<QueueMessageLike>()
  for (const { message, result, parcels } of outcomes) {
    if (result === undefined) {
      letters.push({ message, letter: { kind: 'unreadable', body: message.body, reason: 'not a message of queued engagements', at } })
    } else if (result.kind === 'settled') {
      const { rejections, alone } = sortSettled(result, parcels, at, requeue !== undefined)
      for (const letter of rejections) letters.push({ message, letter })
      // Left unchecked by the object (the isolation budget of the message spent): each goes back
      // to the queue in a message of its own, where it is checked.
      if (alone.length > 0 && requeue)
        await sendAll(
          requeue,
          alone.map((parcel) => ({ parcels: [parcel] })),
        ).catch(() => unwritten.add(message))
    }
  }

  if (letters.length > 0) {
    if (deadLetters) {
      try {
        await sendAll(
          deadLetters,
          letters.map(({ letter }) => letter),
        )
      } catch {
        // Sent again with the message: the object answers the same refusal without asking upstream.
        for (const { message } of letters) unwritten.add(message)
      }
    } else {
      for (const { letter } of letters) logger.error('[conversion-engagements] dead letter:', describeLetter(letter))
    }
  }

  for (const { message, result } of outcomes) {
    if (unwritten.has(message)) message.retry({ delaySeconds: 1 })
    else if (result === undefined || result.kind === 'settled') message.ack()
    else message.retry({ delaySeconds: retryDelaySeconds(result, message.attempts) })
  }
}

interface Outcome {
  message: QueueMessageLike
  /** Undefined when the message is not one of ours. */
  result: SubmitResult | undefined
  parcels: Parcel[]
}

/**
 * Submits every message, each in its own RPC call, with at most {@link OUTSTANDING_ENGAGEMENTS}
 * engagements unsettled at once: the object then always has the next window's worth waiting,
 * and a batch of 100 full messages (20,000) never exceeds its backlog and comes back `busy`.
 */
async function submitAll(messages: readonly QueueMessageLike[], coalescer: Submitter): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  let next = 0
  let outstanding = 0
  let wake: (() => void) | undefined
  const running = new Set<Promise<void>>()
  while (next < messages.length) {
    const message = messages[next++] as QueueMessageLike
    const parcels = await readMessage(message.body)
    if (!parcels) {
      outcomes.push({ message, result: undefined, parcels: [] })
      continue
    }
    while (outstanding > 0 && outstanding + parcels.length > OUTSTANDING_ENGAGEMENTS) {
      await new Promise<void>((resolve) => (wake = resolve))
    }
    outstanding += parcels.length
    const settle = (result: SubmitResult) => {
      outcomes.push({ message, result, parcels })
      outstanding -= parcels.length
      running.delete(submitted)
      wake?.()
    }
    const submitted = coalescer
      .submit(parcels, { deadlineMs: CONSUMER_DEADLINE_MS })
      .then(settle, () => settle({ kind: 'busy', retryAfterMs: 1_000, reason: 'the submit failed' }))
    running.add(submitted)
  }
  await Promise.all(running)
  return outcomes
}

/**
 * Seconds before a message is offered again after `busy` or `unavailable`: what the object
 * estimates at first, then doubling from the fourth attempt up to an hour, so that the queue's
 * 100 retries span days of outage (about 3.6) instead of minutes before it dead-letters them.
 */
export function retryDelaySeconds(result: { retryAfterMs: number }, attempts: number): number {
  const suggested = Math.ceil(result.retryAfterMs / 1000)
  const patience = attempts > 3 ? 2 ** Math.min(attempts - 3, 12) : 0
  return Math.min(MAX_RETRY_DELAY_S, Math.max(1, suggested, patience))
}

/** Sends bodies in as few `sendBatch` calls as the limits allow. */
async function sendAll<Body>(queue: QueueProducer<Body>, bodies: readonly Body[]): Promise<void> {
  const limits = { maxCount: SEND_BATCH_MESSAGES, maxBytes: SEND_BATCH_BYTES, envelopeBytes: 0 }
  for (const group of splitIntoBatches(bodies, limits, (body) => utf8Length(JSON.stringify(body)))) {
    await queue.sendBatch(group.map((body) => ({ body, contentType: 'json' as const })))
  }
}
