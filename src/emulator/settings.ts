import { LIMITS } from '../contract.js'
import { optionReader } from '../core/options.js'
import { applyFaultSettings, NO_FAULTS } from './faults.js'
import { sleepWithTimer } from './timing.js'
import type { EmulatorOptions, Faults, Sleep } from './types.js'

/** {@link EmulatorOptions} with every default applied and checked, once, at creation. */
export interface Settings {
  apiKey: string
  maxRequestsPerSecond: number
  windowMs: number
  maxBatchSize: number
  maxBodyBytes: number
  recordLimit: number
  initialFaults: Faults
  now: () => number
  sleep: Sleep
  random: () => number
}

/** Default of `recordLimit`: a day-long demo at one request a second stays within it. */
export const DEFAULT_RECORD_LIMIT = 100_000

const read = optionReader('conversion-engagements emulator')
const count = { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }

export function normalizeOptions(options: EmulatorOptions): Settings {
  // The message names the option, never its value: the value is the key.
  if (typeof options.apiKey !== 'string' || options.apiKey === '') read.fail('apiKey', 'a non-empty string')
  const faults = applyFaultSettings(NO_FAULTS, options.faults ?? {})
  if ('problem' in faults) throw new TypeError(`conversion-engagements emulator: faults: ${faults.problem}`)
  return {
    apiKey: options.apiKey,
    maxRequestsPerSecond: read.number('maxRequestsPerSecond', options.maxRequestsPerSecond, LIMITS.requestsPerSecond, count),
    windowMs: read.number('windowMs', options.windowMs, 1000, count),
    // A strict copy of Conversion may be stricter than Conversion, never looser.
    maxBatchSize: read.number('maxBatchSize', options.maxBatchSize, LIMITS.batchSize, { ...count, max: LIMITS.batchSize }),
    maxBodyBytes: read.number('maxBodyBytes', options.maxBodyBytes, LIMITS.requestBytes, count),
    recordLimit: read.number('recordLimit', options.recordLimit, DEFAULT_RECORD_LIMIT, count),
    initialFaults: faults.faults,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleepWithTimer,
    random: options.random ?? Math.random,
  }
}
