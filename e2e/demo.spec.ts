import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Page } from '@playwright/test'
import { expect, test, watchConsole } from './support/fixtures.js'

const root = fileURLToPath(new URL('..', import.meta.url))

interface Demo {
  url: string
  emulator: string
  child: ChildProcess
}

/** Starts `npm start`'s program on free ports and reads the addresses it prints. */
async function startDemo(): Promise<Demo> {
  const child = spawn(process.execPath, ['demo/start.mjs'], {
    cwd: root,
    env: { ...process.env, DEMO_PORT: '0', PROXY_PORT: '0', CONVERSION_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  return new Promise<Demo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${output}`)), 30_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const url = /Demo:\s+(\S+)/.exec(output)?.[1]
      const emulator = /emulator at (http:\/\/\S+?)\/api/.exec(output)?.[1]
      if (url && emulator) {
        clearTimeout(timer)
        resolve({ url, emulator, child })
      }
    }
    child.stdout!.on('data', read)
    child.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()))
    child.once('exit', (code) => reject(new Error(`the demo exited with ${code}:\n${output}`)))
  })
}

async function stopDemo(demo: Demo): Promise<void> {
  demo.child.kill('SIGINT')
  await once(demo.child, 'exit')
}

async function summary(demo: Demo): Promise<{ engagements: number; duplicates: string[]; maxStartsInAnyWindow: number }> {
  return (await fetch(`${demo.emulator}/__emulator/summary`)).json() as never
}

async function open(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.waitForFunction(() => window.conversion?.loaded === true)
}

test.describe('npm start: the demo', () => {
  let demo: Demo
  test.beforeAll(async () => {
    demo = await startDemo()
  })
  test.afterAll(async () => {
    await stopDemo(demo)
  })

  test('loads without errors, and its controls work end to end', async ({ page, context }, testInfo) => {
    const problems = watchConsole(page)
    await open(page, demo.url)

    // The snippet's calls, made before the bundle loaded, arrive.
    await expect(page.locator('#received li').first()).toContainText('Dashboard opened', { timeout: 15_000 })

    await page.getByRole('button', { name: 'Export report' }).click()
    await expect(page.locator('#result')).toHaveText(/^queued /)
    await page.getByRole('button', { name: 'Send an invalid engagement' }).click()
    await expect(page.locator('#result')).toHaveText('refused: createdAt must be an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z')

    // Conversion fails half the time, then recovers: everything still arrives, once.
    await page.getByRole('button', { name: '50% of 500s' }).click()
    await expect(page.locator('#faults')).toHaveText(/errorRate 0.5/)
    await page.getByRole('button', { name: 'Burst 1,000' }).click()
    await page.getByRole('button', { name: 'All clear' }).click()
    await expect(page.locator('#faults')).toHaveText('Conversion now: healthy')
    await expect(page.locator('#received-count')).toHaveText('1002 engagements', { timeout: 45_000 })
    await expect(page.locator('#stats')).toContainText('yes (leader)')

    // A second tab does not send: the first one stays the leader.
    const second = await context.newPage()
    await open(second, demo.url)
    await expect(second.locator('#stats')).toContainText('no (another tab does)')
    await second.close()

    await page.screenshot({ path: testInfo.outputPath('demo.png'), fullPage: true })
    expect(problems).toEqual([])
    const after = await summary(demo)
    expect(after.duplicates).toEqual([])
    expect(after.maxStartsInAnyWindow).toBeLessThanOrEqual(10)
  })

  test('a proxy that goes offline and back, and a reload mid-flush, lose and double nothing', async ({ page }) => {
    await open(page, demo.url)
    const before = (await summary(demo)).engagements

    await page.getByRole('button', { name: 'Take the proxy offline' }).click()
    await expect(page.locator('#result')).toHaveText(/offline/)
    await page.getByRole('button', { name: 'Export report' }).click()
    await expect(page.locator('#stats')).toContainText(/Retried\d*[1-9]/, { timeout: 15_000 })
    await page.getByRole('button', { name: 'Bring it back' }).click()

    await page.getByRole('button', { name: 'Burst, then reload mid-flush' }).click()
    await page.waitForEvent('load')
    await page.waitForFunction(() => window.conversion?.loaded === true)
    // The report, the 1,000 of the burst, and the snippet's "Dashboard opened" of both loads.
    await expect.poll(async () => (await summary(demo)).engagements - before, { timeout: 60_000 }).toBe(1003)
    expect((await summary(demo)).duplicates).toEqual([])
  })

  test('the ES module page works the same way', async ({ page }) => {
    const problems = watchConsole(page)
    await open(page, `${demo.url}esm.html`)
    await expect(page.locator('#received li').first()).toContainText('Dashboard opened (ES module)', { timeout: 15_000 })
    await page.getByRole('button', { name: 'Share dashboard' }).click()
    await expect(page.locator('#received li').first()).toContainText('Dashboard Shared', { timeout: 15_000 })
    expect(problems).toEqual([])
  })
})
