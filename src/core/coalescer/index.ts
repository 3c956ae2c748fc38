/** The Coalescer: many client requests in, paced and de-duplicated upstream batches out. */
export { createCoalescer } from './driver.js'
export { COALESCER_DEFAULTS, createCoalescerPacer, type CoalescerClock, type CoalescerOptions } from './options.js'
export { localPacer } from './local-pacer.js'
export type * from './types.js'
