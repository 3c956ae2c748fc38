/**
 * The strict local Conversion API as one Web-standard fetch handler. Web APIs only, so it runs
 * unchanged on Node (see `node.ts`), in Cloudflare's workerd, Deno and Bun, and in-process in tests.
 */
import { createApiRoute } from './api-route.js'
import { createInspectionRoute, isInspectionPath } from './inspection-route.js'
import { normalizeOptions } from './settings.js'
import { createEmulatorState } from './state.js'
import type { Emulator, EmulatorOptions } from './types.js'

/**
 * Creates a strict emulator of Conversion's `POST /api/v1/activities/batch`: same route, auth
 * header, limits and error shapes, and wherever the real API is undocumented, the strictest
 * reading: the rate limit holds in every sliding window, ids are not de-duplicated (every
 * accepted engagement is recorded, so duplicates show), unknown fields are refused.
 *
 * Serve it on loopback only: its `/__emulator/` routes need no key.
 *
 * @example
 * const emulator = createEmulator({ apiKey: 'sk_test_123' })
 * const response = await emulator.fetch(new Request('http://localhost/api/v1/activities/batch', {
 *   method: 'POST',
 *   headers: { 'x-api-key': 'sk_test_123', 'content-type': 'application/json' },
 *   body: JSON.stringify({ batch: [engagement] }),
 * }))
 * emulator.duplicates() // []
 */
export function createEmulator(options: EmulatorOptions): Emulator {
  const settings = normalizeOptions(options)
  const state = createEmulatorState(settings)
  const answerApi = createApiRoute(settings, state)
  const answerInspection = createInspectionRoute(settings, state)

  return {
    fetch: (request) => {
      const url = new URL(request.url)
      return isInspectionPath(url.pathname) ? answerInspection(request, url) : answerApi(request, url)
    },
    engagements: state.engagements,
    requests: state.requests,
    ids: state.ids,
    duplicates: state.duplicates,
    maxStartsInAnyWindow: state.maxStartsInAnyWindow,
    faults: state.faults,
    setFaults: state.setFaults,
    reset: state.reset,
  }
}
