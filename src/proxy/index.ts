/**
 * conversion-engagements/proxy: the Web-standard fetch handler that holds the Conversion API key.
 * @packageDocumentation
 */
export { createProxy, type Proxy } from './proxy.js'
export type { Exchange } from './exchange.js'
export type { BodyText } from '../core/body.js'
export type { WireAnswer } from './responses.js'
export { signIdentity, verifyIdentity, type SignIdentityOptions } from './identity.js'
export { DEFAULT_PATH, DEFAULT_UPSTREAM_URL, PROXY_DEFAULTS, type ClientRateLimit, type ProxyLogger, type ProxyOptions } from './options.js'
export type { ClientGuard, GuardVerdict } from './guard.js'
export type {
  CoalescerStats,
  DeliveryMemory,
  MemoryKey,
  PacerSlot,
  Recall,
  Reservation,
  SharedPacer,
  SubmitResult,
} from '../core/coalescer/index.js'
export { canonicalEmail, checkEngagement, LIMITS, type ClientRequest, type Engagement, type Settlement } from '../contract.js'
export { clientRequestSchema, engagementSchema, upstreamRequestSchema } from '../schemas.js'
