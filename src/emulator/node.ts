/** Serves the emulator over a real Node HTTP server, for the demo, end-to-end tests and benchmarks. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { API_BASE_PATH } from './api-route.js'
import { createEmulator } from './emulator.js'
import type { Emulator, EmulatorInspection, EmulatorOptions } from './types.js'

/** Options of `startEmulator()`: those of `createEmulator()` plus where to listen. */
export interface StartEmulatorOptions extends EmulatorOptions {
  /** Port to listen on. Default `0`: any free port (read it from the result). */
  port?: number
  /** Interface to listen on. Default `'127.0.0.1'`: loopback, as the key-less inspection routes require. */
  host?: string
}

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
  const { port = 0, host = '127.0.0.1', ...emulatorOptions } = options
  const emulator = createEmulator(emulatorOptions)
  // `overrideGlobalObjects: false`: serving must not replace the process's global Request and
  // Response, which the tests and the host application share.
  const listener = getRequestListener((request) => answer(emulator, request), { overrideGlobalObjects: false })
  const server = createServer(listener)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })

  const address = server.address() as AddressInfo
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
  let closing: Promise<void> | undefined
  return {
    url: `${origin}${API_BASE_PATH}`,
    origin,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
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

async function answer(emulator: Emulator, request: Request): Promise<Response> {
  try {
    return await emulator.fetch(request)
  } catch (error) {
    // The client left (it aborted, or `close()` dropped it) while its request hung: nobody will
    // read this answer, but the listener needs one, or it would log the abort as a server error.
    if (request.signal.aborted) return new Response(null, { status: 499 })
    throw error
  }
}
