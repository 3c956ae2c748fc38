import { SELF } from 'cloudflare:test'
import { beforeEach, describe, expect, inject, it } from 'vitest'

const APP = 'https://app.example.com'
const URL_ = 'https://proxy.example.com/api/relay'
const KEY = 'sk_test_workers_0123456789abcdefghij'
const emulator = inject('emulatorOrigin')

const engagement = (id: string) => ({ id, contactEmail: 'john@example.com', type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' })

/** Every id the emulator recorded, read page by page through its inspection route. */
async function recorded(): Promise<string[]> {
  const ids: string[] = []
  for (let since = 0, pages = 0; pages < 100; pages++) {
    const page = (await (await fetch(`${emulator}/__emulator/engagements?since=${since}`)).json()) as {
      items: { engagement: { id: string } }[]
      next: number
    }
    if (page.items.length === 0) break
    ids.push(...page.items.map((item) => item.engagement.id))
    since = page.next
  }
  return ids.sort()
}

function send(ids: string[], origin = APP): Promise<Response> {
  return SELF.fetch(URL_, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ batch: ids.map(engagement) }),
  })
}

beforeEach(async () => {
  await fetch(`${emulator}/__emulator/reset`, { method: 'POST' })
})

describe('the Worker inside workerd, with the emulator as Conversion', () => {
  it('forwards a batch and answers with the settlement', async () => {
    const response = await send(['w-1', 'w-2'])
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP)
    expect(await response.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    expect(await recorded()).toEqual(['w-1', 'w-2'])
  })

  it('answers a re-send as duplicates without forwarding it twice', async () => {
    await send(['w-3'])
    const again = await send(['w-3', 'w-4'])
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 1, rejected: [] })
    expect(await recorded()).toEqual(['w-3', 'w-4'])
  })

  it('paces concurrent requests and sends each id once', async () => {
    const requests = Array.from({ length: 20 }, (_, r) => Array.from({ length: 50 }, (_, i) => `c${r}-${i}`))
    const responses = await Promise.all(requests.map((ids) => send(ids)))
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    expect(await recorded()).toHaveLength(1000)
    const summary = (await (await fetch(`${emulator}/__emulator/summary`)).json()) as { maxStartsInAnyWindow: number; duplicates: number }
    expect(summary.maxStartsInAnyWindow).toBeLessThanOrEqual(10)
  })

  it('refuses foreign origins, and never shows the key', async () => {
    const refused = await send(['w-5'], 'https://evil.example.net')
    expect(refused.status).toBe(403)
    expect(await refused.text()).not.toContain(KEY)
    expect(await recorded()).toEqual([])
  })
})
