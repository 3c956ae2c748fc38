import { LIMITS } from '../contract.js'
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

export function normalizeOptions(options: EmulatorOptions): Settings {
  // The message names the option, never its value: the value may be the key.
  if (typeof options.apiKey !== 'string' || options.apiKey === '') {
    throw new TypeError('createEmulator: apiKey must be a non-empty string')
  }
  const faults = applyFaultSettings(NO_FAULTS, options.faults ?? {})
  if ('problem' in faults) throw new TypeError(`createEmulator: ${faults.problem}`)
  return {
    apiKey: options.apiKey,
    maxRequestsPerSecond: wholeNumber('maxRequestsPerSecond', options.maxRequestsPerSecond, LIMITS.requestsPerSecond),
    windowMs: wholeNumber('windowMs', options.windowMs, 1000),
    // A strict copy of Conversion may be stricter than Conversion, never looser.
    maxBatchSize: wholeNumber('maxBatchSize', options.maxBatchSize, LIMITS.batchSize, LIMITS.batchSize),
    maxBodyBytes: wholeNumber('maxBodyBytes', options.maxBodyBytes, LIMITS.requestBytes),
    recordLimit: wholeNumber('recordLimit', options.recordLimit, DEFAULT_RECORD_LIMIT),
    initialFaults: faults.faults,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleepWithTimer,
    random: options.random ?? Math.random,
  }
}

function wholeNumber(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`createEmulator: ${name} must be a whole number from 1 to ${max}`)
  }
  return value
}
