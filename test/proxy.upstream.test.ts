/**
 * The upstream client on its own, against the strict emulator in process: what each way an
 * exchange with Conversion can end becomes, that its one deadline abandons a request that hangs
 * (the emulator sees the abort), and that the key never shows in a reason.
 */
import { describe, expect, it } from 'vitest'
import { toParcel } from '../src/core/parcel.js'
import { createEmulator, type EmulatorOptions } from '../src/emulator/index.js'
import { createUpstream } from '../src/proxy/upstream.js'

const KEY = 'sk_test_fake_upstream_test_0123456789abcdefghij'
const PARCELS = [1, 2].map((n) =>
  toParcel(
    `e-${n}`,
    'digest',
    JSON.stringify({ id: `e-${n}`, contactEmail: 'ada@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' }),
  ),
)

function upstreamTo(emulatorOptions: Partial<EmulatorOptions>, timeoutMs = 5_000) {
  const emulator = createEmulator({ apiKey: KEY, ...emulatorOptions })
  const send = createUpstream({
    apiKey: KEY,
    upstreamUrl: 'https://conversion.test/api/',
    timeoutMs,
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
    now: () => 0,
  })
  return { emulator, send }
}

describe('the upstream client', () => {
  it('sends the parcels as one batch and keeps the status of a 2xx', async () => {
    const { emulator, send } = upstreamTo({})
    expect(await send(PARCELS)).toEqual({ kind: 'ok', status: 200 })
    expect(emulator.ids()).toEqual(['e-1', 'e-2'])
    expect(emulator.requests()[0]).toMatchObject({ path: '/api/v1/activities/batch', count: 2 })
  })

  it('abandons a request that does not answer within its deadline, and says so', async () => {
    const { emulator, send } = upstreamTo({ faults: { hangRate: 1 } }, 50)
    expect(await send(PARCELS)).toEqual({ kind: 'retry', status: undefined, reason: 'Conversion did not answer within 50 ms' })
    // The request was aborted, not left hanging: the emulator gave up on it.
    expect(emulator.requests()[0]?.status).toBeNull()
    expect(emulator.requests()[0]?.durationMs).not.toBeNull()
  })

  it('tells an unreachable Conversion apart from a slow one', async () => {
    const send = createUpstream({
      apiKey: KEY,
      upstreamUrl: 'https://conversion.test/api',
      timeoutMs: 5_000,
      fetch: () => Promise.reject(new TypeError('fetch failed')),
      now: () => 0,
    })
    expect(await send(PARCELS)).toEqual({ kind: 'retry', status: undefined, reason: 'Conversion could not be reached' })
  })

  it('classifies a refusal with its status and message, the key scrubbed from it', async () => {
    const echo = createUpstream({
      apiKey: KEY,
      upstreamUrl: 'https://conversion.test/api',
      timeoutMs: 5_000,
      fetch: async () => Response.json({ message: `bad key ${KEY} in request` }, { status: 422 }),
      now: () => 0,
    })
    const outcome = await echo(PARCELS)
    expect(outcome).toMatchObject({ kind: 'refused', status: 422 })
    expect(JSON.stringify(outcome)).toContain('[redacted]')
    expect(JSON.stringify(outcome)).not.toContain(KEY)
  })

  it('keeps the 413 as its own kind, so the Coalescer lowers its byte cap', async () => {
    const { send } = upstreamTo({ maxBodyBytes: 100 })
    expect(await send(PARCELS)).toMatchObject({ kind: 'too-large', status: 413 })
  })
})
