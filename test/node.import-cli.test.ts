/**
 * `conversion-engagements import` as operators run it: a child process in front of the emulator,
 * killed with SIGKILL half-way and started again with the same command: every valid row is
 * delivered, none twice but those on their way to Conversion at the kill (which the summary
 * counts apart), the rejected rows are in the side file, and the exit code says what happened.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js'
import { buildCli, cli, stopClis, until } from './helpers/cli-process.js'

const KEY = 'sk_test_fake_import_cli_0123456789abcdefXYZ'
let emulator: RunningEmulator
let folder: string

beforeAll(async () => {
  await buildCli()
  emulator = await startEmulator({ apiKey: KEY })
  folder = mkdtempSync(join(tmpdir(), 'import-cli-'))
}, 30_000)
afterAll(async () => {
  await emulator?.close()
  rmSync(folder, { recursive: true, force: true })
})
afterEach(() => {
  emulator.reset()
  stopClis()
})

/** A file of `count` rows, each `badEvery`-th one refused by the contract. */
function writeRows(name: string, count: number, badEvery: number): string {
  const lines = Array.from({ length: count }, (_, n) =>
    JSON.stringify({
      id: `r-${n}`,
      contactEmail: n % badEvery === badEvery - 1 ? 'nobody' : `p${n % 40}@example.com`,
      type: 'CALL',
      createdAt: '2024-03-01T12:00:00Z',
    }),
  )
  const path = join(folder, name)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

const env = () => ({ CONVERSION_API_KEY: KEY, CONVERSION_API_URL: emulator.url })

describe('the import command', () => {
  it('finishes after a SIGKILL half-way, delivering every valid row, none twice but those it counts as on their way at the kill', async () => {
    const file = writeRows('killed.jsonl', 8_000, 97)
    const first = cli(['import', file], env())
    const progress = `${file}.progress.json`
    await until(() => existsSync(progress) && (JSON.parse(readFileSync(progress, 'utf8')) as { done: number }).done >= 2_000, 30_000)
    process.kill(first.child.pid as number, 'SIGKILL')
    await first.exited

    const second = cli(['import', file], env())
    expect(await second.exited).toBe(1)
    const summary = second.output.stdout
    expect(summary).toMatch(/imported: 8000 of 8000 rows/)
    const valid = 8_000 - Math.floor(8_000 / 97)
    const ids = new Set(emulator.ids())
    expect(ids.size).toBe(valid)
    const doubled = Number(/(\d+) sent again after an earlier run was killed/.exec(summary)?.[1] ?? 0)
    // At most what was inside the upstream requests in flight at the kill: 10 of 200.
    expect(emulator.duplicates().length).toBeLessThanOrEqual(doubled)
    expect(doubled).toBeLessThanOrEqual(2_000)
    const rejected = readFileSync(`${file}.rejected.jsonl`, 'utf8').split('\n').filter(Boolean)
    expect(rejected).toHaveLength(Math.floor(8_000 / 97))
    expect(new Set(rejected.map((line) => (JSON.parse(line) as { row: number }).row)).size).toBe(rejected.length)
  }, 60_000)

  it('exits 0 when every row is accepted or a duplicate, and a repeated import is answered as duplicates', async () => {
    const file = writeRows('clean.jsonl', 500, 1_000_000)
    const first = cli(['import', file], env())
    expect(await first.exited).toBe(0)
    expect(first.output.stdout).toMatch(/500 accepted, 0 duplicate, 0 rejected, 0 busy/)
    const again = cli(['import', file], env())
    expect(await again.exited).toBe(0)
    expect(again.output.stdout).toMatch(/0 accepted, 500 duplicate/)
    expect(emulator.duplicates()).toEqual([])
  })

  it('checks a CSV file with a short row with --dry-run, naming the row and its line, and goes on to the end', async () => {
    const file = join(folder, 'ragged.csv')
    writeFileSync(file, 'id,contactEmail,type\nc-1,ada@example.com,CALL\nc-2,CALL\nc-3,bob@example.com,CALL\n')
    const dry = cli(['import', file, '--dry-run'], env())
    expect(await dry.exited).toBe(1)
    expect(dry.output.stdout).toMatch(/row 2: line 3 has 2 cells: each row must have one per column of the header \(3\)/)
    expect(dry.output.stdout).toMatch(/checked 3 rows of .*: 1 would be rejected; nothing was sent/)
  })

  it('gives up at once on a second SIGTERM while Conversion keeps failing, exits 143, and the same command sends every row', async () => {
    const file = writeRows('failing.jsonl', 1_000, 1_000_000)
    emulator.setFaults({ errorRate: 1 })
    const first = cli(['import', file], env())
    await until(() => emulator.requests().length >= 2)
    process.kill(first.child.pid as number, 'SIGTERM')
    await until(() => /stopping:/.test(first.output.stderr))
    process.kill(first.child.pid as number, 'SIGTERM')
    const exited = await Promise.race([first.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))])
    expect(exited).toBe(143)
    expect(first.output.stdout).toMatch(/stopped: 0 of 1000 rows/)
    expect(emulator.ids()).toEqual([])

    emulator.setFaults({ errorRate: 0 })
    const second = cli(['import', file], env())
    expect(await second.exited).toBe(0)
    expect(second.output.stdout).toMatch(/imported: 1000 of 1000 rows; 1000 accepted/)
    expect(emulator.duplicates()).toEqual([])
  }, 30_000)

  it('checks a file with --dry-run without sending, and refuses wrong usage naming what is wrong, never the key', async () => {
    const file = writeRows('dry.jsonl', 300, 100)
    const dry = cli(['import', file, '--dry-run'], env())
    expect(await dry.exited).toBe(1)
    expect(dry.output.stdout).toMatch(/row 100: contactEmail must be an email address/)
    expect(dry.output.stdout).toMatch(/checked 300 rows of .*: 3 would be rejected; nothing was sent/)
    expect(emulator.requests()).toEqual([])

    const missing = cli(['import', file], { CONVERSION_API_URL: emulator.url })
    expect(await missing.exited).toBe(2)
    expect(missing.output.stderr).toMatch(/`CONVERSION_API_KEY` must be set/)
    const noFile = cli(['import'], env())
    expect(await noFile.exited).toBe(2)
    expect(noFile.output.stderr).toMatch(/give exactly one file to import/)
    const help = cli(['import', '--help'], env())
    expect(await help.exited).toBe(0)
    for (const name of ['CONVERSION_API_KEY', 'CONVERSION_API_URL', 'REDIS_URL', 'MAX_REQUESTS_PER_SECOND', '--dry-run'])
      expect(help.output.stdout).toContain(name)
    for (const run of [dry, missing, noFile, help]) expect(run.output.stdout + run.output.stderr).not.toContain(KEY)
  })
})
