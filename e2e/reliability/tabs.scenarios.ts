/**
 * The network and the tabs: offline for a while, and five tabs of one origin tracking at once,
 * opening and closing, the one that sends closing in the middle of a flush.
 */
import type { Page } from '@playwright/test'
import { eventually, expect, test } from './support/fixtures.js'

test('offline for a while (tracking meanwhile), then back online', async ({ stack, context, page }) => {
  await stack.open(page)
  await stack.track(page, 60)
  // Cut while the first requests may be on their way.
  await context.setOffline(true)
  for (let round = 0; round < 5; round++) {
    await stack.track(page, 30, { name: `Offline ${round}` })
    await page.waitForTimeout(400)
  }
  expect((await stack.stats(page)).online).toBe(false)
  await context.setOffline(false)
  await stack.settle([page])
  stack.conclude()
})

test('five tabs tracking at once, tabs opening and closing, the leader closing mid-flush', async ({ stack, context }) => {
  const open = async (index: number) => stack.open(await context.newPage(), {}, `user-${index}@example.com`)
  let tabs: Page[] = await Promise.all([0, 1, 2, 3, 4].map(open))
  const leaders = async () => (await Promise.all(tabs.map(async (tab) => (await stack.stats(tab)).leader))).filter(Boolean).length
  await eventually(async () => (await leaders()) === 1, 'one leader among five tabs')

  // All five at once, twice.
  for (let round = 0; round < 2; round++) {
    await Promise.all(tabs.map((tab, index) => stack.track(tab, 30, { name: `Tab ${index} round ${round}` })))
  }

  // Two tabs that are not the leader close right after tracking; two new ones open.
  const leader = (await stack.leader(tabs)) as Page
  const followers = tabs.filter((tab) => tab !== leader)
  for (const tab of followers.slice(0, 2)) {
    await stack.track(tab, 20, { name: 'Just before closing' })
    await tab.close()
  }
  // And three more come and go at once, as a tab opened from a link and closed right away.
  for (let index = 5; index < 8; index++) {
    const brief = await open(index)
    await stack.track(brief, 15, { name: 'Brief tab' })
    await brief.close()
  }
  tabs = [leader, ...followers.slice(2), await open(8), await open(9)]
  await Promise.all(tabs.map((tab) => stack.track(tab, 20, { name: 'After the churn' })))
  expect(await leaders()).toBe(1)

  // The leader closes while its requests are out and their answers are lost.
  stack.gate.hold()
  const before = stack.emulator.ids().length
  await Promise.all(tabs.map((tab) => stack.track(tab, 40, { name: 'Before the leader goes' })))
  await eventually(() => stack.emulator.ids().length > before, 'the leader mid-flush')
  await leader.close()
  stack.gate.release()
  tabs = tabs.filter((tab) => tab !== leader)
  await eventually(async () => (await leaders()) === 1, 'another tab takes over')
  await Promise.all(tabs.map((tab) => stack.track(tab, 10, { name: 'Under the new leader' })))

  await stack.settle(tabs)
  stack.conclude()
})
