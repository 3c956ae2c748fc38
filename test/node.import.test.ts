/**
 * The bulk import against the emulator over loopback: JSON Lines and CSV, rejected rows in the
 * side file, ids derived from rows, a repeated import answered as duplicates without reaching
 * Conversion, and an interrupted import that continues where it stopped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runImport } from '../src/adapters/node/import/run.js'
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js'

const KEY = 'sk_test_fake_import_test_0123456789abcdef'
const folders: string[] = []
const emulators: RunningEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((emulator) => emulator.close()))
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

function fileWith(name: string, text: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'import-'))
  folders.push(folder)
  const path = join(folder, name)
  writeFileSync(path, text)
  return path
}

async function emulator() {
  const running = await startEmulator({ apiKey: KEY })
  emulators.push(running)
  return running
}

/** `count` rows of meetings, every `badEvery`-th one without a contact. */
function jsonLines(count: number, badEvery = 0): string {
  return Array.from({ length: count }, (_, n) => {
    const row: Record<string, unknown> = {
      type: 'MEETING',
      name: `Call ${n}`,
      contactEmail: `person${n % 50}@example.com`,
      createdAt: '2024-01-15T10:00:00Z',
      data: { n },
    }
    if (badEvery && n % badEvery === badEvery - 1) delete row.contactEmail
    return JSON.stringify(row)
  }).join('\n')
}

const rejectedRows = (path: string) =>
  readFileSync(`${path}.rejected.jsonl`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { row: number; reason: string })

describe('bulk import', () => {
  it('sends every valid row once, writes the rejected ones with their reason, and answers a repeated import as duplicates', async () => {
    const conversion = await emulator()
    const file = fileWith('meetings.jsonl', `${jsonLines(1_000, 100)}\n{not json\n`)
    const summary = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(summary).toMatchObject({
      total: 1_001,
      settled: 1_001,
      stopped: false,
      counts: { accepted: 990, duplicate: 0, rejected: 11, busy: 0 },
    })
    expect(conversion.ids()).toHaveLength(990)
    expect(conversion.duplicates()).toEqual([])
    const rejected = rejectedRows(file)
    expect(rejected.map((row) => row.row)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1001])
    expect(rejected[0]?.reason).toBe('contactEmail is required')
    expect(rejected[10]?.reason).toBe('the row is not valid JSON')

    const requests = conversion.requests().length
    const again = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(again.counts).toEqual({ accepted: 0, duplicate: 990, rejected: 11, busy: 0 })
    expect(conversion.requests()).toHaveLength(requests)
    expect(rejectedRows(file)).toHaveLength(11)
  })

  it('reads CSV with a header row, quoted cells and data as JSON', async () => {
    const conversion = await emulator()
    const csv = [
      'id,contactEmail,type,name,createdAt,data',
      'c-1,ada@example.com,CALL,"Call, with a comma",2024-01-15T10:00:00Z,"{""minutes"":30}"',
      'c-2,not-an-email,CALL,Second,2024-01-15T10:05:00Z,',
    ]
    const file = fileWith('calls.csv', `${csv.join('\r\n')}\r\n`)
    const summary = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(summary.counts).toEqual({ accepted: 1, duplicate: 0, rejected: 1, busy: 0 })
    expect(conversion.engagements()[0]?.engagement).toMatchObject({ id: 'c-1', name: 'Call, with a comma', data: { minutes: 30 } })
    expect(rejectedRows(file)[0]).toMatchObject({ row: 2, reason: expect.stringContaining('contactEmail') })
  })

  it('rejects a CSV row whose cells do not match the header on its own, naming its line and the rule, and sends the others', async () => {
    const conversion = await emulator()
    const csv = [
      'id,contactEmail,type',
      'c-1,ada@example.com,CALL',
      'c-2,CALL',
      'c-3,bob@example.com,CALL,extra',
      'c-4,eve@example.com,CALL',
    ]
    const file = fileWith('ragged.csv', `${csv.join('\n')}\n`)
    const summary = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(summary).toMatchObject({ stopped: false, settled: 4, counts: { accepted: 2, duplicate: 0, rejected: 2, busy: 0 } })
    expect(conversion.ids().sort()).toEqual(['c-1', 'c-4'])
    expect(rejectedRows(file)).toEqual([
      expect.objectContaining({ row: 2, reason: 'line 3 has 2 cells: each row must have one per column of the header (3)' }),
      expect.objectContaining({ row: 3, reason: 'line 4 has 4 cells: each row must have one per column of the header (3)' }),
    ])
  })

  it('stops when asked, records where, and the same command continues without sending anything twice', async () => {
    const conversion = await emulator()
    const file = fileWith('big.jsonl', jsonLines(3_000))
    const stop = new AbortController()
    const first = await runImport({
      file,
      apiKey: KEY,
      upstreamUrl: conversion.url,
      rowsInFlight: 400,
      signal: stop.signal,
      onProgress: (progress) => progress.settled >= 1_000 && stop.abort(),
    })
    expect(first.stopped).toBe(true)
    expect(first.settled).toBeGreaterThanOrEqual(1_000)
    expect(first.settled).toBeLessThan(3_000)
    const second = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(second).toMatchObject({ stopped: false, settled: 3_000, possiblyDoubled: 0 })
    expect(conversion.ids()).toHaveLength(3_000)
    expect(conversion.duplicates()).toEqual([])
  })

  it('refuses to resume a file that changed since its import started', async () => {
    const conversion = await emulator()
    const file = fileWith('changed.jsonl', jsonLines(10))
    const stop = new AbortController()
    stop.abort()
    await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url, signal: stop.signal })
    writeFileSync(file, jsonLines(12))
    await expect(runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })).rejects.toThrow(/changed since its import started/)
  })
})
