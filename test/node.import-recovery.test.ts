/**
 * The bulk import when things go wrong, against the emulator over loopback: Conversion refusing
 * the key half-way (the import stops at the first row it could not send, so the same command
 * sends it), a journal line cut short by a kill (skipped and counted, not fatal), and a journal
 * that holds only what is on its way, however many requests were delivered.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runImport } from '../src/adapters/node/import/run.js'
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js'
import { startRedis } from './helpers/redis.js'

const KEY = 'sk_test_fake_import_recovery_0123456789ab'
const folders: string[] = []
const emulators: RunningEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((emulator) => emulator.close()))
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

async function setUp(name: string, rows: number, idPrefix = 'm-') {
  const folder = mkdtempSync(join(tmpdir(), 'import-recovery-'))
  folders.push(folder)
  const file = join(folder, name)
  const lines = Array.from({ length: rows }, (_, n) =>
    JSON.stringify({
      id: `${idPrefix}${n}`,
      type: 'MEETING',
      contactEmail: `person${n % 50}@example.com`,
      createdAt: '2024-01-15T10:00:00Z',
    }),
  )
  writeFileSync(file, `${lines.join('\n')}\n`)
  const conversion = await startEmulator({ apiKey: KEY })
  emulators.push(conversion)
  return { file, conversion }
}

/** A fetch that sends the first `good` requests with the key and every later one with another, which Conversion answers 401. */
function keyRefusedAfter(good: number): typeof fetch {
  let sent = 0
  return (input, init) => {
    const headers = new Headers(init?.headers)
    if (++sent > good) headers.set('x-api-key', 'sk_test_fake_revoked_0000000000000000')
    return fetch(input, { ...init, headers })
  }
}

/** The `>` lines of a journal not closed by a `<` line: requests on their way. */
function openRequests(journal: string): number {
  if (!existsSync(journal)) return 0
  const open = new Set<string>()
  for (const line of readFileSync(journal, 'utf8').split('\n')) {
    const [mark, request] = line.split('\t')
    if (mark === '>' && request) open.add(request)
    if (mark === '<' && request) open.delete(request)
  }
  return open.size
}

describe('bulk import, when things go wrong', () => {
  it('stops at the first row Conversion would not take (a refused key), and the same command sends every later row', async () => {
    const { file, conversion } = await setUp('refused.jsonl', 2_000)
    const first = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url, rowsInFlight: 400, fetch: keyRefusedAfter(2) })
    expect(first.stopped).toBe(true)
    expect(first.halted).toMatch(/401|key/i)
    expect(first.counts.busy).toBe(0)
    // What is recorded as done is exactly what arrived: no row after the stop is skipped by a resume.
    expect(first.settled).toBe(conversion.ids().length)
    expect(first.settled).toBeLessThan(2_000)
    const progress = JSON.parse(readFileSync(`${file}.progress.json`, 'utf8')) as { done: number }
    expect(progress.done).toBe(first.settled)

    const second = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(second).toMatchObject({ stopped: false, halted: undefined, settled: 2_000 })
    expect(new Set(conversion.ids()).size).toBe(2_000)
    expect(conversion.duplicates()).toEqual([])
  })

  it('skips a journal line cut short by a kill, counting its request as unknown, and goes on', async () => {
    const { file, conversion } = await setUp('torn.jsonl', 300)
    const journal = `${file}.in-flight.log`
    const whole = `>\t1\t${JSON.stringify([['m-7', '0123456789abcdef0123456789abcdef']])}\n`
    writeFileSync(journal, `${whole}>\t2\t[["m-20","01234`)
    const summary = await runImport({ file, apiKey: KEY, upstreamUrl: conversion.url })
    expect(summary).toMatchObject({ stopped: false, settled: 300, possiblyDoubled: 1, unknownRequests: 1 })
    expect(new Set(conversion.ids()).size).toBe(300)
    expect(existsSync(journal)).toBe(false)
  })

  it('keeps in its journal only the requests on their way, however many were delivered, and none once stopped', async () => {
    // Long ids, so that what is written for 3,000 rows (over 400 KB) is more than the journal may hold at once.
    const { file, conversion } = await setUp('bounded.jsonl', 4_000, `meeting-${'x'.repeat(100)}-`)
    const journal = `${file}.in-flight.log`
    const stop = new AbortController()
    let mostOpen = 0
    let mostBytes = 0
    const summary = await runImport({
      file,
      apiKey: KEY,
      upstreamUrl: conversion.url,
      rowsInFlight: 400,
      signal: stop.signal,
      onProgress: (progress) => {
        mostOpen = Math.max(mostOpen, openRequests(journal))
        if (existsSync(journal)) mostBytes = Math.max(mostBytes, statSync(journal).size)
        if (progress.settled >= 3_000) stop.abort()
      },
    })
    expect(summary.stopped).toBe(true)
    expect(conversion.requests().length).toBeGreaterThanOrEqual(15)
    // 400 rows handed over at a time: two requests of 200 on their way at most.
    expect(mostOpen).toBeLessThanOrEqual(2)
    // Rewritten with only the open requests once 256 KiB were appended.
    expect(mostBytes).toBeLessThan(320_000)
    expect(existsSync(journal)).toBe(false)
  })

  it('with Redis as the memory, closes what Redis stored, so a stopped import resumes counting nothing as possibly doubled', async () => {
    const redis = await startRedis()
    try {
      const { file, conversion } = await setUp('shared.jsonl', 3_000)
      const stop = new AbortController()
      const options = { file, apiKey: KEY, upstreamUrl: conversion.url, redisUrl: redis.url }
      const first = await runImport({
        ...options,
        rowsInFlight: 400,
        signal: stop.signal,
        onProgress: (progress) => progress.settled >= 1_000 && stop.abort(),
      })
      expect(first.stopped).toBe(true)
      expect(existsSync(`${file}.in-flight.log`)).toBe(false)
      const second = await runImport(options)
      expect(second).toMatchObject({ stopped: false, settled: 3_000, possiblyDoubled: 0, unknownRequests: 0 })
      expect(new Set(conversion.ids()).size).toBe(3_000)
      expect(conversion.duplicates()).toEqual([])
    } finally {
      await redis.stop()
    }
  }, 30_000)
})
