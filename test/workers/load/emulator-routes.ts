/**
 * A client of the emulator's inspection and control routes (`/__emulator/`), given the emulator's
 * origin. Runtime-neutral (Web APIs only), like the simulation that uses it: it runs inside
 * workerd and, bundled by `scripts/load-edge.mjs`, in Node.
 */

/** What `/__emulator/summary` says about the requests the emulator saw (the fields tests read). */
export interface EmulatorSummary {
  maxStartsInAnyWindow: number
  duplicates: string[]
  requests: number
  engagements: number
}

export async function emulatorSummary(origin: string): Promise<EmulatorSummary> {
  return (await (await fetch(`${origin}/__emulator/summary`)).json()) as EmulatorSummary
}

/** Every item of `/__emulator/engagements` or `/__emulator/requests`, read page by page. */
export async function emulatorPages<T>(origin: string, route: 'engagements' | 'requests'): Promise<T[]> {
  const items: T[] = []
  for (let since = 0, page = 0; page < 1_000; page++) {
    const answer = (await (await fetch(`${origin}/__emulator/${route}?since=${since}&limit=10000`)).json()) as { items: T[]; next: number }
    if (answer.items.length === 0) break
    items.push(...answer.items)
    since = answer.next
  }
  return items
}

/** Resets the emulator, or sets its faults; throws when the emulator refuses. */
export async function emulatorControl(origin: string, route: 'reset' | 'faults', body: object): Promise<void> {
  const response = await fetch(`${origin}/__emulator/${route}`, { method: 'POST', body: JSON.stringify(body) })
  if (!response.ok) throw new Error(`emulator ${route}: ${response.status} ${await response.text()}`)
  await response.body?.cancel()
}
