import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileAcknowledgedIds, serveProxy, type RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'

const HOUR = 3_600_000
const KEY = 'sk_live_state_file_test_0123456789'

let folders: string[] = []
afterEach(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  folders = []
})

function stateFile(): string {
  const folder = mkdtempSync(join(tmpdir(), 'acknowledged-'))
  folders.push(folder)
  return join(folder, 'nested', 'acknowledged.log')
}

function clock() {
  let time = Date.parse('2025-08-12T09:00:00Z')
  return { now: () => time, pass: (ms: number) => void (time += ms) }
}

const known = (memory: { has(ids: readonly string[]): unknown }, ids: string[]) => [...(memory.has(ids) as Set<string>)].sort()
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean)

describe('acknowledged ids in a file', () => {
  it('remembers across a reopen, as a new process would, one line per acknowledged batch', () => {
    const path = stateFile()
    const time = clock()
    const first = createFileAcknowledgedIds({ path, now: time.now })
    first.add(['a', 'b'], time.now())
    first.add(['c'], time.now() + 1)
    expect(known(first, ['a', 'c', 'x'])).toEqual(['a', 'c'])
    expect(lines(path)).toEqual([JSON.stringify([time.now(), ['a', 'b']]), JSON.stringify([time.now() + 1, ['c']])])
    // No close(): a crashed process does not close its file either.

    const second = createFileAcknowledgedIds({ path, now: time.now })
    expect(known(second, ['a', 'b', 'c', 'x'])).toEqual(['a', 'b', 'c'])
    expect(second.size()).toBe(3)
    second.close()
    first.close()
  })

  it('skips a line torn by a crash, says so, and appends cleanly after it', () => {
    const path = stateFile()
    const time = clock()
    const problems: string[] = []
    const memory = createFileAcknowledgedIds({ path, now: time.now })
    memory.add(['whole'], time.now())
    memory.close()
    // The process died in the middle of writing a line.
    appendFileSync(path, '[1755000000000,["torn-1","to')

    const reopened = createFileAcknowledgedIds({ path, now: time.now, onProblem: (message) => problems.push(message) })
    expect(problems).toEqual([expect.stringMatching(/1 unreadable line\(s\) skipped/)])
    expect(known(reopened, ['whole', 'torn-1'])).toEqual(['whole'])
    reopened.add(['after'], time.now())
    reopened.close()
    expect(lines(path).map((line) => JSON.parse(line))).toEqual([
      [time.now(), ['whole']],
      [time.now(), ['after']],
    ])
    const third = createFileAcknowledgedIds({ path, now: time.now })
    expect(known(third, ['whole', 'after', 'torn-1'])).toEqual(['after', 'whole'])
    third.close()
  })

  it('ignores lines that are not its own (garbage, wrong shapes) instead of failing to start', () => {
    const path = stateFile()
    const time = clock()
    createFileAcknowledgedIds({ path, now: time.now }).close()
    writeFileSync(path, ['not json', '{"at":1}', '[1,"a"]', '[1,[2]]', `[${time.now()},["good"]]`, ''].join('\n'))
    const problems: string[] = []
    const memory = createFileAcknowledgedIds({ path, now: time.now, onProblem: (message) => problems.push(message) })
    expect(known(memory, ['good', 'a'])).toEqual(['good'])
    expect(problems[0]).toMatch(/^4 unreadable line/)
    memory.close()
  })

  it('forgets ids after the retention period, in memory and in the file', () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileAcknowledgedIds({ path, now: time.now })
    memory.add(['old'], time.now())
    time.pass(23 * HOUR)
    memory.add(['newer'], time.now())
    time.pass(HOUR)
    expect(known(memory, ['old', 'newer'])).toEqual(['newer'])
    memory.close()
    const reopened = createFileAcknowledgedIds({ path, now: time.now })
    expect(known(reopened, ['old', 'newer'])).toEqual(['newer'])
    expect(lines(path)).toHaveLength(1)
    reopened.close()
  })

  it('stays bounded: at most `capacity` ids, and a file compacted once it doubles', () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileAcknowledgedIds({ path, now: time.now, capacity: 2_000 })
    let largest = 0
    for (let batch = 0; batch < 1_000; batch++) {
      memory.add(Array.from({ length: 200 }, (_, i) => `batch-${batch}-engagement-${i}-${'x'.repeat(20)}`), time.now())
      time.pass(1_000)
      largest = Math.max(largest, statSync(path).size)
      expect(memory.size()).toBeLessThanOrEqual(2_000)
    }
    // 2,000 ids of about 50 bytes are about 100 KB: the file is compacted from 1 MiB on.
    expect(largest).toBeLessThan(1_300_000)
    expect(known(memory, ['batch-999-engagement-0-' + 'x'.repeat(20), 'batch-0-engagement-0-' + 'x'.repeat(20)])).toEqual([
      'batch-999-engagement-0-' + 'x'.repeat(20),
    ])
    memory.compact()
    expect(statSync(path).size).toBeLessThan(120_000)
    memory.close()
    const reopened = createFileAcknowledgedIds({ path, now: time.now, capacity: 2_000 })
    expect(reopened.size()).toBe(2_000)
    reopened.close()
  })

  it('after close(), keeps remembering in memory without touching the file', () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileAcknowledgedIds({ path, now: time.now })
    memory.close()
    memory.close()
    memory.add(['in-memory'], time.now())
    expect(known(memory, ['in-memory'])).toEqual(['in-memory'])
    expect(readFileSync(path, 'utf8')).toBe('')
  })

  it('refuses to start when the file cannot be read, rather than forget silently', () => {
    const path = stateFile()
    createFileAcknowledgedIds({ path }).close()
    expect(() => createFileAcknowledgedIds({ path: join(path, 'below-a-file') })).toThrow()
  })
})

describe('serveProxy({ stateFile }): a restarted proxy still answers re-sends as duplicates', () => {
  const stack = nodeStack(KEY)
  afterEach(stack.close)

  const send = (proxy: RunningProxy, ids: string[]) => postIds(proxy, ids).then((response) => response.json())

  for (const remembers of [true, false]) {
    it(remembers ? 'with a state file: forwarded once' : 'without one (the old behaviour): forwarded twice', async () => {
      const emulator = await stack.emulator()
      const path = stateFile()
      const start = () => stack.proxy(emulator, remembers ? { stateFile: path } : {})
      const first = await start()
      expect(await send(first, ['r-1', 'r-2'])).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
      await first.close()

      const second = await start()
      expect(await send(second, ['r-1', 'r-2', 'r-3'])).toEqual(
        remembers ? { accepted: 1, duplicates: 2, rejected: [] } : { accepted: 3, duplicates: 0, rejected: [] },
      )
      expect(emulator.duplicates()).toEqual(remembers ? [] : ['r-1', 'r-2'])
    })
  }

  it('refuses both stateFile and acknowledged, and a bodyTimeout that is not positive', async () => {
    const options = { apiKey: KEY, allowedOrigins: [APP] }
    await expect(serveProxy({ ...options, stateFile: stateFile(), acknowledged: { has: () => new Set(), add: () => {}, size: () => 0 } })).rejects.toThrow(
      /`stateFile` or `acknowledged`, not both/,
    )
    await expect(serveProxy({ ...options, bodyTimeout: 0 })).rejects.toThrow(/`bodyTimeout` must be a positive number/)
  })
})
