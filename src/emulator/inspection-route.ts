import { readBodyText } from '../core/body.js'
import { errorResponse, jsonResponse } from './responses.js'
import type { Settings } from './settings.js'
import type { EmulatorState } from './state.js'
import type { FaultSettings, InspectionPage } from './types.js'

/** Where the inspection routes live. They need no key and answer any origin. */
export const INSPECTION_PREFIX = '/__emulator/'

// The inspection routes hold nothing secret, so a demo page on another loopback port may read them.
const CORS = { 'access-control-allow-origin': '*' }
const PAGE_DEFAULT = 1000
const PAGE_MAX = 10_000
/** Fault settings are a handful of numbers; anything bigger is a mistake. */
const FAULTS_BODY_MAX = 16_384

type Handler = (request: Request, url: URL) => Response | Promise<Response>

/** The handler of `/__emulator/*`: read what the emulator saw, change faults, reset. */
export function createInspectionRoute(settings: Settings, state: EmulatorState) {
  const limits = {
    maxRequestsPerSecond: settings.maxRequestsPerSecond,
    windowMs: settings.windowMs,
    maxBatchSize: settings.maxBatchSize,
    maxBodyBytes: settings.maxBodyBytes,
    recordLimit: settings.recordLimit,
  }
  const summary = () => ({
    ...state.counts(),
    duplicates: state.duplicates(),
    maxStartsInAnyWindow: state.maxStartsInAnyWindow(),
    faults: state.faults(),
    limits,
  })

  const routes = new Map<string, Partial<Record<'GET' | 'POST', Handler>>>(
    Object.entries({
      engagements: { GET: (_, url) => page(url, state.recordedAfter, (record) => record.position) },
      requests: { GET: (_, url) => page(url, state.requestsAfter, (entry) => entry.seq) },
      summary: { GET: () => jsonResponse(200, summary(), CORS) },
      faults: {
        GET: () => jsonResponse(200, state.faults(), CORS),
        POST: async (request) => {
          const body = await readBodyText(request, FAULTS_BODY_MAX)
          if (!body.ok) return errorResponse(body.status, body.message, CORS)
          let settingsToApply: unknown
          try {
            settingsToApply = JSON.parse(body.text)
          } catch {
            return errorResponse(400, 'request body must be JSON fault settings, such as {"errorRate": 0.1}', CORS)
          }
          try {
            // `setFaults` checks every field at run time; the cast only names what it expects.
            return jsonResponse(200, state.setFaults(settingsToApply as FaultSettings), CORS)
          } catch (error) {
            if (error instanceof TypeError) return errorResponse(400, error.message, CORS)
            throw error
          }
        },
      },
      reset: {
        POST: () => {
          state.reset()
          return jsonResponse(200, summary(), CORS)
        },
      },
    }),
  )

  return async function answer(request: Request, url: URL): Promise<Response> {
    // A Map, so a path such as `/__emulator/constructor` finds nothing instead of a prototype member.
    const route = routes.get(url.pathname.slice(INSPECTION_PREFIX.length))
    if (!route) return errorResponse(404, `No inspection route here; try ${INSPECTION_PREFIX}summary`, CORS)
    const allow = Object.keys(route).join(', ')
    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          ...CORS,
          'access-control-allow-methods': allow,
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '600',
        },
      })
    }
    const handler = route[request.method as 'GET' | 'POST']
    if (!handler) return errorResponse(405, `Method not allowed: use ${allow}`, { ...CORS, allow })
    return handler(request, url)
  }
}

/** Whether `path` belongs to the inspection routes. */
export function isInspectionPath(path: string): boolean {
  return path.startsWith(INSPECTION_PREFIX) || path === INSPECTION_PREFIX.slice(0, -1)
}

/** A cursor page of `after(since, limit)`, the cursor read from `?since=` and `?limit=`. */
function page<T>(url: URL, after: (since: number, limit: number) => T[], keyOf: (item: T) => number): Response {
  const since = wholeParameter(url, 'since', 0)
  const limit = wholeParameter(url, 'limit', PAGE_DEFAULT)
  if (since === undefined) return errorResponse(400, 'since must be a whole number', CORS)
  if (limit === undefined || limit < 1 || limit > PAGE_MAX) {
    return errorResponse(400, `limit must be a whole number from 1 to ${PAGE_MAX}`, CORS)
  }
  const items = after(since, limit)
  const last = items.at(-1)
  const body: InspectionPage<T> = { items, next: last === undefined ? since : keyOf(last) }
  return jsonResponse(200, body, CORS)
}

function wholeParameter(url: URL, name: string, fallback: number): number | undefined {
  const text = url.searchParams.get(name)
  if (text === null) return fallback
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined
}
