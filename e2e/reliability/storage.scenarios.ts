/**
 * IndexedDB missing, refusing or full: the tracker falls back to memory, says so (an `error`
 * event with code `storage`), and delivers. From memory, a crash loses what was not sent yet:
 * the one loss the tracker cannot prevent, bounded and reported.
 */
import type { Page } from '@playwright/test'
import { crash, eventually, expect, test } from './support/fixtures.js'
import type { Stack } from './support/stack.js'

/** Ways a browser's IndexedDB fails, installed before any page script runs. */
const BREAKAGES = {
  'missing (no indexedDB at all)': () => {
    Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true })
  },
  'throwing on access (SecurityError, private-mode style)': () => {
    Object.defineProperty(window, 'indexedDB', {
      configurable: true,
      get() {
        throw new DOMException('The operation is insecure.', 'SecurityError')
      },
    })
  },
  'failing to open (the request errors)': () => {
    IDBFactory.prototype.open = () => {
      const request = {
        error: new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError'),
      } as unknown as IDBOpenDBRequest
      setTimeout(() => (request as unknown as { onerror?: (event: Event) => void }).onerror?.(new Event('error')), 0)
      return request
    }
  },
  'quota exceeded on every write (QuotaExceededError)': () => {
    IDBObjectStore.prototype.put = () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
    }
  },
} satisfies Record<string, () => void>

function storageErrors(stack: Stack): string[] {
  return stack.ledger.errors.filter((error) => error.code === 'storage').map((error) => error.message)
}

async function storageOf(stack: Stack, page: Page): Promise<string> {
  return (await stack.stats(page)).storage
}

for (const [name, breakage] of Object.entries(BREAKAGES)) {
  test(`IndexedDB ${name}: the memory fallback delivers, and says so`, async ({ stack, page }) => {
    await page.addInitScript(breakage)
    await stack.open(page)
    await stack.track(page, 200)
    await stack.settle([page])
    expect(await storageOf(stack, page)).toBe('memory')
    expect(storageErrors(stack)).toHaveLength(1)
    stack.conclude({ note: `said: "${storageErrors(stack)[0]}"` })
  })
}

test('quota exceeded mid-session: what was stored before waits for the next visit', async ({ stack, context, page }) => {
  await stack.open(page)
  stack.gate.refuse()
  await stack.track(page, 60, { name: 'Stored' })
  await eventually(async () => (await stack.stats(page)).queued === 60, 'stored in IndexedDB')
  await page.evaluate(BREAKAGES['quota exceeded on every write (QuotaExceededError)'])
  await stack.track(page, 60, { name: 'In memory' })
  await eventually(() => storageErrors(stack).length === 1, 'the storage error')
  stack.gate.release()
  await eventually(() => stack.counts().delivered === 60, 'what memory holds is sent now')
  await page.close()
  // The next visit (with room again) sends what IndexedDB kept.
  const again = await stack.open(await context.newPage())
  await stack.settle([again])
  stack.conclude()
})

test('memory fallback, then a crash: only what was not sent yet is lost, and the page was told', async ({ stack, context, page }) => {
  await page.addInitScript(BREAKAGES['missing (no indexedDB at all)'])
  await stack.open(page)
  await stack.track(page, 100, { name: 'Sent before' })
  // Sent, and the page heard so.
  await eventually(async () => stack.counts().delivered === 100 && (await stack.stats(page)).queued === 0, 'the first 100 sent')
  stack.gate.refuse()
  await stack.track(page, 40, { name: 'Unsent at the crash' })
  await eventually(async () => (await stack.stats(page)).queued === 40, '40 waiting in memory')
  await crash(page)
  stack.gate.release()
  const again = await stack.open(await context.newPage())
  await stack.track(again, 30, { name: 'After' })
  await stack.settle([again], { lost: 40 })
  const row = stack.conclude({
    bounded: 40,
    note: 'the 40 unsent in memory when the renderer crashed; the page had an error event with code storage',
  })
  expect(row.lost).toBe(40)
  expect(storageErrors(stack).length).toBeGreaterThanOrEqual(1)
})
