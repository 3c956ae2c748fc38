import { env } from 'cloudflare:workers'
import { inject } from 'vitest'
import type { Engagement } from '../../src/contract.js'
import type { Parcel } from '../../src/core/coalescer/index.js'
import { toParcel } from '../../src/core/parcel.js'
import { digestOf, webCryptoSha256 } from '../../src/proxy/fingerprint.js'
import { coalescerName } from '../../src/adapters/cloudflare/durable-object.js'
import type { WorkerEnv } from '../../src/adapters/cloudflare/env.js'
import { emulatorControl, emulatorPages, emulatorSummary, type EmulatorSummary } from './load/emulator-routes.js'

export const APP = 'https://app.example.com'
export const RELAY = 'https://proxy.example.com/api/relay'
export const KEY = 'sk_test_workers_0123456789abcdefghij'
export const emulator = inject('emulatorOrigin')

export const engagement = (id: string): Engagement => ({
  id,
  contactEmail: 'john@example.com',
  type: 'PRODUCT_ACTIVITY',
  createdAt: '2025-08-12T09:21:45Z',
})

/** An engagement as the ingress hands it on: its JSON text, digested. */
export async function parcelOf(item: Engagement): Promise<Parcel> {
  const json = JSON.stringify(item)
  return toParcel(item.id, await digestOf(webCryptoSha256, item.id, json), json)
}

export const parcelsOf = (items: readonly Engagement[]): Promise<Parcel[]> => Promise.all(items.map(parcelOf))

/** A client request to the proxy, as a browser page of `origin` sends it. */
export function relayRequest(batch: unknown[], origin = APP): Request {
  return new Request(RELAY, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ batch }),
  })
}

/** The Worker's bindings without some of them, to run it in another mode than the configured one. */
export function bindingsWithout(...names: (keyof Cloudflare.Env)[]): WorkerEnv {
  const bindings: Record<string, unknown> = { ...env }
  for (const name of names) delete bindings[name]
  return bindings as unknown as WorkerEnv
}

/** The Durable Object mode: the object, no queue. */
export const objectMode = (): WorkerEnv => bindingsWithout('ENGAGEMENTS_QUEUE', 'DEAD_LETTERS')

/** The Durable Object that paces the test key's requests. */
export const keyObject = async () => env.COALESCER.getByName(await coalescerName(KEY))

/** Every id the emulator recorded, read page by page through its inspection route. */
export async function recorded(): Promise<string[]> {
  return (await emulatorPages<{ engagement: { id: string } }>(emulator, 'engagements')).map((item) => item.engagement.id).sort()
}

/** What the emulator says about the requests it saw. */
export const summary = (): Promise<EmulatorSummary> => emulatorSummary(emulator)

export const resetEmulator = (): Promise<void> => emulatorControl(emulator, 'reset', {})

/** Polls `check` every 50 ms until it returns a value, for at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
