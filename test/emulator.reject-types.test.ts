import { describe, expect, it } from 'vitest'
import { createEmulator } from '../src/emulator/index.js'
import { createProxy } from '../src/proxy/proxy.js'

const KEY = 'sk_test_reject_types'
const engagement = (id: string, type = 'PRODUCT_ACTIVITY') => ({ id, contactEmail: 'john@example.com', type, createdAt: '2025-08-12T09:21:45Z' })

const post = (emulator: ReturnType<typeof createEmulator>, batch: object[]) =>
  emulator.fetch(
    new Request('http://conversion.test/api/v1/activities/batch', {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ batch }),
    }),
  )

describe('emulator fault: rejectTypes', () => {
  it('refuses a whole batch holding a refused type with 400, naming the first, and records nothing of it', async () => {
    const emulator = createEmulator({ apiKey: KEY })
    expect(emulator.setFaults({ rejectTypes: ['POISON'] })).toMatchObject({ rejectTypes: ['POISON'] })
    const refused = await post(emulator, [engagement('a'), engagement('b', 'POISON'), engagement('c', 'POISON')])
    expect(refused.status).toBe(400)
    expect(await refused.json()).toEqual({ message: 'batch[1].type "POISON" is refused (emulated fault)' })
    expect(emulator.ids()).toEqual([])
    expect(emulator.requests()[0]).toMatchObject({ status: 400, fault: 'reject' })

    expect((await post(emulator, [engagement('d')])).status).toBe(200)
    expect(emulator.ids()).toEqual(['d'])
  })

  it('is absent from the faults of a healthy upstream, and an empty list clears it', () => {
    const emulator = createEmulator({ apiKey: KEY, faults: { rejectTypes: ['X'] } })
    expect(emulator.faults().rejectTypes).toEqual(['X'])
    expect(emulator.setFaults({ rejectTypes: [] })).not.toHaveProperty('rejectTypes')
    expect(() => emulator.setFaults({ rejectTypes: 'X' as never })).toThrow(/rejectTypes must be a list of engagement types/)
    emulator.reset()
    expect(emulator.faults().rejectTypes).toEqual(['X'])
  })

  it('makes the proxy bisect: the rest is delivered, each refused engagement is rejected with the reason', async () => {
    const emulator = createEmulator({ apiKey: KEY, faults: { rejectTypes: ['POISON'] } })
    const proxy = createProxy({
      apiKey: KEY,
      allowedOrigins: ['https://app.example.com'],
      upstreamUrl: 'http://conversion.test/api',
      fetch: (input, init) => emulator.fetch(new Request(input, init)),
    })
    const batch = Array.from({ length: 40 }, (_, i) => engagement(`e-${i}`, i % 13 === 5 ? 'POISON' : 'PRODUCT_ACTIVITY'))
    const response = await proxy.fetch(
      new Request('https://app.example.com/api/relay', {
        method: 'POST',
        headers: { origin: 'https://app.example.com', 'content-type': 'application/json' },
        body: JSON.stringify({ batch }),
      }),
    )
    const settlement = (await response.json()) as { accepted: number; rejected: { id: string; reason: string }[] }
    expect(settlement.accepted).toBe(37)
    expect(settlement.rejected).toEqual(
      ['e-5', 'e-18', 'e-31'].map((id) => ({ id, reason: 'HTTP 400: batch[0].type "POISON" is refused (emulated fault)' })),
    )
    expect(emulator.ids()).toHaveLength(37)
    expect(emulator.duplicates()).toEqual([])
    proxy.close()
  })
})
