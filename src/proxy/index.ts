/**
 * conversion-engagements/proxy: the Web-standard fetch handler that holds the Conversion API key.
 * @packageDocumentation
 */
export { createProxy, type Proxy } from './proxy.js'
export { signIdentity, verifyIdentity, type SignIdentityOptions } from './identity.js'
export { DEFAULT_PATH, DEFAULT_UPSTREAM_URL, type ProxyLogger, type ProxyOptions } from './options.js'
export { createMemoryGuard, type ClientGuard, type GuardVerdict } from './guard.js'
export { createCoalescer, type Coalescer, type CoalescerOptions, type CoalescerStats, type SubmitResult } from '../core/coalescer.js'
export { createAcknowledgedIds, type AcknowledgedIds } from '../core/acknowledged.js'
export { checkEngagement, LIMITS, type ClientRequest, type Engagement, type Settlement } from '../contract.js'
export { clientRequestSchema, engagementSchema, upstreamRequestSchema } from '../schemas.js'
