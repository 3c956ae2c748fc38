/**
 * The page's life: closed, reloaded, navigated away or crashed while engagements are on their
 * way, then the site opened again. Answers are lost on purpose (the gate holds them) so that the
 * re-sends meet engagements Conversion already has.
 */
import type { Page } from '@playwright/test'
import { crash, eventually, expect, test } from './support/fixtures.js'

test('baseline: a healthy system delivers 300 engagements once', async ({ stack, page }) => {
  await stack.open(page)
  await stack.track(page, 300)
  await stack.settle([page])
  stack.conclude()
})

for (const [how, leave] of [
  ['closed', async (page: Page) => page.close()],
  ['reloaded', async (page: Page) => void (await page.reload({ waitUntil: 'commit' }))],
  ['navigated away', async (page: Page) => void (await page.goto('about:blank'))],
  ['crashed (its renderer killed)', crash],
] as const) {
  test(`page ${how} mid-flush (answers lost), then the site opened again`, async ({ stack, context, page }) => {
    await stack.open(page)
    stack.gate.hold()
    await stack.track(page, 240)
    // Conversion has some of them; the page heard of none.
    await eventually(() => stack.emulator.ids().length >= 40, 'a first upstream batch')
    await leave(page)
    stack.gate.release()
    const again = page.isClosed() || page.url() === 'about:blank' ? await context.newPage() : page
    await stack.open(again)
    await stack.settle([again])
    const row = stack.conclude()
    expect(row.delivered).toBe(240)
    // The re-sends reached the proxy and were answered as duplicates, not forwarded again.
    expect(stack.ledger.answeredAsDuplicates).toBeGreaterThan(0)
  })
}

test('renderer crash with engagements unsent, then the site opened again', async ({ stack, context, page }) => {
  await stack.open(page)
  stack.gate.refuse()
  await stack.track(page, 150)
  // Durable once the outbox counts them (the count reads IndexedDB after the writes).
  await eventually(async () => (await stack.stats(page)).queued === 150, 'the outbox holds all 150')
  await crash(page)
  stack.gate.release()
  const again = await stack.open(await context.newPage())
  await stack.settle([again])
  stack.conclude()
})
