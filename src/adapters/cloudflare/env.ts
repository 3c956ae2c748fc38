/**
 * The Worker's bindings, and the few facts read from them that the ingress, the queue consumer
 * and the Durable Object must agree on. Platform types are declared here as the little this
 * package uses of them, so the package type-checks without `@cloudflare/workers-types`.
 */
import { LIMITS, type Engagement } from '../../contract.js'
import type { Coalescer, Parcel, SubmitOptions, SubmitResult } from '../../core/coalescer/index.js'
import { describeRule, numberProblem, optionReader, type NumberRule } from '../../core/options.js'
import { DEFAULT_UPSTREAM_URL } from '../../proxy/options.js'
import type { RateLimitBinding } from './binding-guard.js'

/** The bindings the Worker reads. Lists are comma-separated. */
export interface WorkerEnv {
  /** Secret: your Conversion API key. */
  CONVERSION_API_KEY: string
  /** Origins allowed to send, such as `https://app.example.com,https://*.preview.example.com`. */
  ALLOWED_ORIGINS: string
  /** Where the proxy answers. Default `/api/relay`. */
  PROXY_PATH?: string
  /** Conversion's API base. Default `https://pub-api.conversion.ai/api`. */
  CONVERSION_API_URL?: string
  /** Secret: verify identity signatures made with it (see `signIdentity`). */
  IDENTITY_SECRET?: string
  /** Engagement types accepted; others are rejected. */
  ALLOWED_TYPES?: string
  /** Upstream request starts per second, 1 to 10. */
  MAX_REQUESTS_PER_SECOND?: string
  /** Cloudflare's rate-limiting binding, for the per-client limit. */
  CLIENT_RATE_LIMITER?: RateLimitBinding
  /** The period configured for `CLIENT_RATE_LIMITER`, in seconds (10 or 60), for `Retry-After`. Default `10`. */
  CLIENT_RATE_LIMIT_PERIOD?: string
  /**
   * The Durable Object namespace of `EngagementCoalescer`. With it, one object per API key paces
   * and de-duplicates every upstream request of every isolate. Without it, each isolate does so
   * for itself, and the Worker says once that the global limit is not guaranteed.
   */
  COALESCER?: CoalescerNamespace
  /**
   * Queue mode: a producer binding of the queue this Worker also consumes. With it, the ingress
   * answers once the engagements are enqueued, and the consumer forwards them through `COALESCER`.
   */
  ENGAGEMENTS_QUEUE?: QueueProducer<QueuedEngagements>
  /** Queue mode: a producer binding of the dead-letter queue, for engagements Conversion refuses for good. */
  DEAD_LETTERS?: QueueProducer<DeadLetter>
}

/** A Durable Object namespace, as far as the Worker uses it. */
export interface CoalescerNamespace {
  getByName(name: string): CoalescerStub
}

/** The RPC stub of an `EngagementCoalescer`. */
export interface CoalescerStub {
  submit(parcels: Parcel[], options?: SubmitOptions): Promise<SubmitResult>
}

/** A Queue producer binding, as far as the Worker uses it. */
export interface QueueProducer<Body> {
  send(body: Body, options?: { contentType?: 'json' }): Promise<unknown>
  sendBatch(messages: Iterable<{ body: Body; contentType?: 'json' }>): Promise<unknown>
}

/**
 * One queued message: the valid engagements of one client request (or a part, when large), as
 * the ingress checked and digested them. Messages of earlier versions hold `engagements` instead.
 */
export interface QueuedEngagements {
  parcels: Parcel[]
}

/**
 * One message this Worker writes to the dead-letter queue: an engagement Conversion refused for
 * good, with its reason, or a queued message it could not read. Messages the queue itself moves
 * there after its last retry keep their {@link QueuedEngagements} shape.
 */
export type DeadLetter =
  | { kind: 'rejected'; engagement: Engagement; reason: string; at: string }
  | { kind: 'unreadable'; body: unknown; reason: string; at: string }

/** Where engagements of one client request go: a Coalescer, here or in a Durable Object. */
export type Submitter = Pick<Coalescer, 'submit'>

/** The bindings the proxy reads, checked and complete. */
export interface Bindings {
  apiKey: string
  allowedOrigins: string[]
  path: string | undefined
  upstreamUrl: string
  identitySecret: string | undefined
  allowedTypes: string[] | undefined
  maxRequestsPerSecond: number
  /** The period of `CLIENT_RATE_LIMITER`, in ms, for `Retry-After`. */
  clientRateLimitPeriodMs: number
}

const read = optionReader('conversion-engagements worker')

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

/** A number binding: its default when unset, else a TypeError naming it, its value and its range. */
function numberBinding(
  env: WorkerEnv,
  name: 'MAX_REQUESTS_PER_SECOND' | 'CLIENT_RATE_LIMIT_PERIOD',
  fallback: number,
  rule: NumberRule,
): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  return numberProblem(value, rule) ? read.fail(name, describeRule(rule), raw) : value
}

/**
 * Reads the bindings once per configuration. Throws a TypeError naming the binding, its value and
 * what it must be (never the value of a secret): the Worker then answers 500 and logs it.
 */
export function readBindings(env: WorkerEnv): Bindings {
  if (typeof env.CONVERSION_API_KEY !== 'string' || env.CONVERSION_API_KEY.trim() === '') {
    read.fail('CONVERSION_API_KEY', 'your Conversion API key, as a secret (npx wrangler secret put CONVERSION_API_KEY)')
  }
  const types = list(env.ALLOWED_TYPES)
  return {
    apiKey: env.CONVERSION_API_KEY,
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    path: env.PROXY_PATH || undefined,
    upstreamUrl: env.CONVERSION_API_URL || DEFAULT_UPSTREAM_URL,
    identitySecret: env.IDENTITY_SECRET || undefined,
    allowedTypes: types.length > 0 ? types : undefined,
    maxRequestsPerSecond: numberBinding(env, 'MAX_REQUESTS_PER_SECOND', LIMITS.requestsPerSecond, {
      min: 1,
      max: LIMITS.requestsPerSecond,
      integer: true,
    }),
    // Cloudflare's rate-limiting binding counts over 10 or 60 seconds.
    clientRateLimitPeriodMs: numberBinding(env, 'CLIENT_RATE_LIMIT_PERIOD', 10, { min: 10, max: 60, integer: true }) * 1000,
  }
}
