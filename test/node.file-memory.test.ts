import { FakeClock } from './helpers/clock.js'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileMemory, serveProxy, type RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'
import { digestOf } from './helpers/parcels.js'

const HOUR = 3_600_000
const KEY = 'sk_test_fake_state_file_test_0123456789'

let folders: string[] = []
afterEach(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  folders = []
})

function stateFile(): string {
  const folder = mkdtempSync(join(tmpdir(), 'delivered-'))
  folders.push(folder)
  return join(folder, 'nested', 'delivered.log')
}

const clock = () => new FakeClock()

/** The key of the engagement with this id (one content per id in these tests). */
const key = (id: string) => ({ id, digest: digestOf(id, `{"id":"${id}"}`) })
const keys = (ids: string[]) => ids.map(key)
/** The ids the memory knows as delivered, sorted. */
const known = (memory: ReturnType<typeof createFileMemory>, ids: string[], now = Date.parse('2025-08-12T09:00:00Z')) => {
  const verdicts = memory.recall(keys(ids), now) as string[]
  return ids.filter((_, i) => verdicts[i] === 'known').sort()
}
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean)
const line = (at: number, ids: string[]) => JSON.stringify({ at, digests: keys(ids).map((item) => item.digest) })

describe('the memory of delivered engagements in a file', () => {
  it('remembers across a reopen, as a new process would, one line per acknowledged batch', () => {
    const path = stateFile()
    const time = clock()
    const first = createFileMemory({ path, now: time.now })
    first.acknowledge(keys(['a', 'b']), time.now())
    first.acknowledge(keys(['c']), time.now() + 1)
    expect(known(first, ['a', 'c', 'x'])).toEqual(['a', 'c'])
    expect(lines(path)).toEqual([line(time.now(), ['a', 'b']), line(time.now() + 1, ['c'])])
    // No close(): a crashed process does not close its file either.

    const second = createFileMemory({ path, now: time.now })
    expect(known(second, ['a', 'b', 'c', 'x'])).toEqual(['a', 'b', 'c'])
    expect(second.size()).toBe(3)
    second.close()
    first.close()
  })

  it('skips a line torn by a crash, says so, and appends cleanly after it', () => {
    const path = stateFile()
    const time = clock()
    const problems: string[] = []
    const memory = createFileMemory({ path, now: time.now })
    memory.acknowledge(keys(['whole']), time.now())
    memory.close()
    // The process died in the middle of writing a line.
    appendFileSync(path, `{"at":1755000000000,"digests":["${key('torn-1').digest}","to`)

    const reopened = createFileMemory({ path, now: time.now, onProblem: (message) => problems.push(message) })
    expect(problems).toEqual([expect.stringMatching(/1 unreadable line\(s\) skipped/)])
    expect(known(reopened, ['whole', 'torn-1'])).toEqual(['whole'])
    reopened.acknowledge(keys(['after']), time.now())
    reopened.close()
    expect(lines(path)).toEqual([line(time.now(), ['whole']), line(time.now(), ['after'])])
    const third = createFileMemory({ path, now: time.now })
    expect(known(third, ['whole', 'after', 'torn-1'])).toEqual(['after', 'whole'])
    third.close()
  })

  it('ignores lines that are not its own (garbage, wrong shapes) instead of failing to start', () => {
    const path = stateFile()
    const time = clock()
    createFileMemory({ path, now: time.now }).close()
    const lines = ['not json', '{"at":1}', '[1,"a"]', '[1,[2]]', '{"at":1,"digests":["short"]}', line(time.now(), ['good']), '']
    writeFileSync(path, lines.join('\n'))
    const problems: string[] = []
    const memory = createFileMemory({ path, now: time.now, onProblem: (message) => problems.push(message) })
    expect(known(memory, ['good', 'a'])).toEqual(['good'])
    expect(problems[0]).toMatch(/^5 unreadable line/)
    memory.close()
  })

  it('reads the lines of an earlier version (ids without their content) as delivered, whatever the content', () => {
    const path = stateFile()
    const time = clock()
    createFileMemory({ path, now: time.now }).close()
    writeFileSync(path, `${JSON.stringify([time.now(), ['legacy-1']])}\n`)
    const memory = createFileMemory({ path, now: time.now })
    expect(memory.recall([key('legacy-1'), { id: 'legacy-1', digest: digestOf('legacy-1', 'other content') }], time.now())).toEqual([
      'known',
      'known',
    ])
    memory.close()
  })

  it('forgets ids after the retention period, in memory and in the file', async () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileMemory({ path, now: time.now })
    memory.acknowledge(keys(['old']), time.now())
    await time.advance(23 * HOUR)
    memory.acknowledge(keys(['newer']), time.now())
    await time.advance(HOUR)
    expect(known(memory, ['old', 'newer'], time.now())).toEqual(['newer'])
    memory.close()
    const reopened = createFileMemory({ path, now: time.now })
    expect(known(reopened, ['old', 'newer'], time.now())).toEqual(['newer'])
    reopened.compact()
    expect(lines(path)).toEqual([line(time.now() - HOUR, ['newer'])])
    reopened.close()
  })

  it('at a restart, appends to a whole file as it is, and cuts off only a torn last line (a rewrite at capacity takes seconds)', async () => {
    const path = stateFile()
    const time = clock()
    const first = createFileMemory({ path, now: time.now })
    first.acknowledge(keys(['expired']), time.now())
    await time.advance(25 * HOUR)
    first.acknowledge(keys(['kept']), time.now())
    first.close()
    const whole = readFileSync(path, 'utf8')
    appendFileSync(path, `{"at":${time.now()},"digests":["${key('torn').digest.slice(0, 9)}`)

    const problems: string[] = []
    const second = createFileMemory({ path, now: time.now, onProblem: (message) => problems.push(message) })
    expect(problems).toEqual([expect.stringMatching(/^1 unreadable line\(s\) skipped/)])
    expect(readFileSync(path, 'utf8')).toBe(whole)
    second.acknowledge(keys(['after']), time.now())
    second.close()
    expect(lines(path)).toEqual([line(time.now() - 25 * HOUR, ['expired']), line(time.now(), ['kept']), line(time.now(), ['after'])])
    const third = createFileMemory({ path, now: time.now })
    expect(known(third, ['expired', 'kept', 'after', 'torn'], time.now())).toEqual(['after', 'kept'])
    third.close()
  })

  it('stays bounded: at most `capacity` ids, and a file compacted once it doubles', async () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileMemory({ path, now: time.now, capacity: 2_000 })
    let largest = 0
    for (let batch = 0; batch < 1_000; batch++) {
      memory.acknowledge(keys(Array.from({ length: 200 }, (_, i) => `batch-${batch}-engagement-${i}-${'x'.repeat(20)}`)), time.now())
      await time.advance(1_000)
      largest = Math.max(largest, statSync(path).size)
      expect(memory.size()).toBeLessThanOrEqual(2_000)
    }
    // 2,000 digests of 35 bytes are about 70 KB: the file is compacted from 1 MiB on.
    expect(largest).toBeLessThan(1_300_000)
    expect(known(memory, [`batch-999-engagement-0-${'x'.repeat(20)}`, `batch-0-engagement-0-${'x'.repeat(20)}`], time.now())).toEqual([
      `batch-999-engagement-0-${'x'.repeat(20)}`,
    ])
    memory.compact()
    expect(statSync(path).size).toBeLessThan(120_000)
    memory.close()
    const reopened = createFileMemory({ path, now: time.now, capacity: 2_000 })
    expect(reopened.size()).toBe(2_000)
    reopened.close()
  })

  it('reads its file a chunk at a time: a file many chunks long, its torn last line skipped', () => {
    const path = stateFile()
    const time = clock()
    createFileMemory({ path, now: time.now }).close()
    const ids = Array.from({ length: 600 }, (_, i) => `chunked-${i}`)
    const whole = ids.map((id, i) => line(time.now() - i, [id]))
    writeFileSync(path, `${whole.join('\n')}\n{"at":1755000000000,"digests":["${key('torn').digest}"`)
    const problems: string[] = []
    // Each line is about 70 bytes, the file about 40 KB: hundreds of 64-byte chunks.
    const memory = createFileMemory(
      { path, now: time.now, onProblem: (message) => problems.push(message) },
      { reading: { chunkBytes: 64 } },
    )
    expect(known(memory, [...ids, 'torn'], time.now())).toEqual([...ids].sort())
    expect(problems).toEqual([expect.stringMatching(/^1 unreadable line\(s\) skipped/)])
    memory.close()
  })

  it('compacts a file of one-engagement lines once it passes twice what a rewrite would write', async () => {
    const path = stateFile()
    const time = clock()
    // One digest per line costs about 69 bytes, twice what it costs compacted: counting digests
    // alone would let the file grow to four times its compacted size.
    const memory = createFileMemory({ path, now: time.now, capacity: 500 }, { compactFromBytes: 4_096 })
    let largest = 0
    for (let n = 0; n < 3_000; n++) {
      memory.acknowledge(keys([`single-${n}`]), time.now())
      await time.advance(1_000)
      largest = Math.max(largest, statSync(path).size)
    }
    // Twice 500 compacted digests is 36 KB; the file may pass it by the one line that triggers.
    expect(largest).toBeLessThan(36_100)
    memory.close()
    const reopened = createFileMemory({ path, now: time.now, capacity: 500 })
    expect(reopened.size()).toBe(500)
    expect(known(reopened, ['single-2999', 'single-2500', 'single-2499'], time.now())).toEqual(['single-2500', 'single-2999'])
    reopened.close()
  })

  it('after close(), keeps remembering in memory without touching the file', () => {
    const path = stateFile()
    const time = clock()
    const memory = createFileMemory({ path, now: time.now })
    memory.close()
    memory.close()
    memory.acknowledge(keys(['in-memory']), time.now())
    expect(known(memory, ['in-memory'])).toEqual(['in-memory'])
    expect(readFileSync(path, 'utf8')).toBe('')
  })

  it('refuses to start when the file cannot be read, rather than forget silently', () => {
    const path = stateFile()
    createFileMemory({ path }).close()
    expect(() => createFileMemory({ path: join(path, 'below-a-file') })).toThrow()
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

  it('refuses both stateFile and memory, and a bodyTimeout that is not positive', async () => {
    const options = { apiKey: KEY, allowedOrigins: [APP] }
    const memory = { recall: () => [], acknowledge: () => {}, release: () => {}, size: () => 0 }
    await expect(serveProxy({ ...options, stateFile: stateFile(), memory })).rejects.toThrow(/`stateFile` or `memory`, not both/)
    await expect(serveProxy({ ...options, bodyTimeout: 0 })).rejects.toThrow(/`bodyTimeout` must be a positive number/)
  })
})
