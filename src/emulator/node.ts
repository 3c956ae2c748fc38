/** Serves the emulator over a real Node HTTP server, for the demo, end-to-end tests and benchmarks. */
import { serve, type ListenOptions } from '../adapters/node/serve.js'
import { API_BASE_PATH } from './api-route.js'
import { createEmulator } from './emulator.js'
import type { EmulatorInspection, EmulatorOptions } from './types.js'

/** Options of `startEmulator()`: those of `createEmulator()` plus where to listen. */
export interface StartEmulatorOptions extends EmulatorOptions, ListenOptions {}

/** A running emulator server. */
export interface RunningEmulator extends EmulatorInspection {
  /** The API base, such as `http://127.0.0.1:43121/api`: what a proxy uses as Conversion's base URL. */
  url: string
  /** Where the server answers, such as `http://127.0.0.1:43121` (inspection: `${origin}/__emulator/summary`). */
  origin: string
  /** The port it listens on. */
  port: number
  /**
   * Stops the server completely: stops listening, drops every connection (idle keep-alive ones
   * and requests still hanging), so the process can exit. Safe to call more than once.
   */
  close(): Promise<void>
}

/**
 * Starts the emulator on a Node HTTP server.
 * @example
 * const emulator = await startEmulator({ apiKey: 'sk_test_123' })
 * try { ... fetch(`${emulator.url}/v1/activities/batch`, ...) ... } finally { await emulator.close() }
 */
export async function startEmulator(options: StartEmulatorOptions): Promise<RunningEmulator> {
  const { port, host, ...emulatorOptions } = options
  const emulator = createEmulator(emulatorOptions)
  const server = await serve((request) => emulator.fetch(request), {
    ...(port === undefined ? {} : { port }),
    ...(host === undefined ? {} : { host }),
  })
  return {
    url: `${server.origin}${API_BASE_PATH}`,
    origin: server.origin,
    port: server.port,
    close: server.close,
    engagements: emulator.engagements,
    requests: emulator.requests,
    ids: emulator.ids,
    duplicates: emulator.duplicates,
    maxStartsInAnyWindow: emulator.maxStartsInAnyWindow,
    faults: emulator.faults,
    setFaults: emulator.setFaults,
    reset: emulator.reset,
  }
}
