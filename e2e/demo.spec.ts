import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { expect, test, watchConsole } from './support/fixtures.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Starts `npm start`'s program on free ports and returns the demo URL once it is printed. */
async function startDemo(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['demo/start.mjs'], {
    cwd: root,
    env: { ...process.env, DEMO_PORT: '0', PROXY_PORT: '0', CONVERSION_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${output}`)), 30_000)
    child.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()))
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const found = /Demo:\s+(\S+)/.exec(output)
      if (found) {
        clearTimeout(timer)
        resolve(found[1] as string)
      }
    })
    child.once('exit', (code) => reject(new Error(`the demo exited with ${code}:\n${output}`)))
  })
  return { url, child }
}

test('npm start: the demo loads without errors, tracks, and the emulator receives', async ({ page }, testInfo) => {
  const { url, child } = await startDemo()
  try {
    const problems = watchConsole(page)
    await page.goto(url)
    await page.waitForFunction(() => window.conversion?.loaded === true)

    // The snippet's calls, made before the bundle loaded, arrive.
    await expect(page.locator('#received li').first()).toContainText('Demo page opened', { timeout: 15_000 })

    await page.getByRole('button', { name: 'Report exported' }).click()
    await expect(page.locator('#result')).toHaveText(/queued/)
    await page.getByRole('button', { name: 'Send an invalid engagement' }).click()
    await expect(page.locator('#result')).toHaveText('refused: createdAt must be an ISO 8601 UTC date-time such as 2025-08-12T09:21:45Z')
    await page.getByRole('button', { name: 'Burst 1,000' }).click()
    await expect(page.locator('#received-count')).toHaveText('1002 engagements', { timeout: 30_000 })
    await expect(page.locator('#stats')).toContainText('yes (leader)')

    await page.screenshot({ path: testInfo.outputPath('demo.png'), fullPage: true })
    expect(problems).toEqual([])
  } finally {
    child.kill('SIGINT')
    await once(child, 'exit')
  }
})
