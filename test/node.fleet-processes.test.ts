/**
 * Several processes, one window: three separate Node processes, each with its own Redis
 * connection (`createRedisCoordination`), reserve and land slots of one API key as fast as they
 * can against one real redis-server, several requests out at once in each. Counted from every
 * flight's start and answer times, no sliding second ever holds more than the limit. The control
 * runs the same processes pacing alone, and breaches it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { bundleForNode } from './helpers/cli-process.js'
import type { SenderReport } from './helpers/window-sender.js'
import { startRedis, type RedisServer } from './helpers/redis.js'

/** The sender script, bundled before the tests. */
let sender = ''
const LIMIT = 10
const PROCESSES = 3
/** How long each process sends, in ms: a few windows, past the one a new key waits first. */
const RUN_MS = 4_000
/** Conversion's window. */
const SECOND_MS = 1_000
/** Each process's flights last these many ms in turn, as upstream latency would vary. */
const FLIGHT_PATTERN = [0, 5, 40, 120, 15, 250]

let redis: RedisServer
let keySeed = 0
const children: ChildProcess[] = []

beforeAll(async () => {
  sender = await bundleForNode('test/helpers/window-sender.ts', 'window-sender')
  redis = await startRedis()
})
afterAll(() => redis?.stop())
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL')
})

/** Resolves with the first IPC message of `type` from `child`, or rejects if it exits first or after `timeoutMs`. */
function message<T>(child: ChildProcess, type: string, output: () => string, timeoutMs: number): Promise<T> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${type} within ${timeoutMs} ms: ${output()}`)), timeoutMs)
    child.on('message', (received: { type?: string }) => {
      if (received?.type !== type) return
      clearTimeout(timer)
      done(received as T)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      fail(new Error(`sender exited with ${code} before ${type}: ${output()}`))
    })
  })
}

/** Runs the senders together (`redisUrl` undefined: each paces alone) and gathers every flight. */
async function race(redisUrl: string | undefined): Promise<{ flights: [number, number][]; perProcess: number[]; refusals: number }> {
  const apiKey = `sk_test_processes_${Date.now()}_${++keySeed}`
  const senders = Array.from({ length: PROCESSES }, () => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      API_KEY: apiKey,
      RUN_MS: String(RUN_MS),
      WORKERS: '4',
      MAX_REQUESTS_PER_SECOND: String(LIMIT),
      FLIGHT_MS: FLIGHT_PATTERN.join(','),
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    }
    const child = spawn(process.execPath, [sender], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    children.push(child)
    let said = ''
    child.stdout?.on('data', (chunk: Buffer) => (said += chunk))
    child.stderr?.on('data', (chunk: Buffer) => (said += chunk))
    return { child, output: () => said }
  })
  await Promise.all(senders.map(({ child, output }) => message(child, 'ready', output, 10_000)))
  const reports = senders.map(({ child, output }) => message<SenderReport>(child, 'flights', output, RUN_MS + 10_000))
  for (const { child } of senders) child.send({ type: 'go' })
  const done = await Promise.all(reports)
  return {
    flights: done.flatMap((report) => report.flights),
    perProcess: done.map((report) => report.flights.length),
    refusals: done.reduce((sum, report) => sum + report.refusals, 0),
  }
}

/**
 * The most flights one window of Conversion's second can hold, wherever the network put each
 * request between its start and its answer. A window [t, t + 1 s) holds a flight when
 * start < t + 1 s and answer >= t; sliding a window later only loses flights once t passes an
 * answer, so the busiest one starts at some flight's answer.
 */
function busiestSecond(flights: readonly [number, number][]): number {
  let most = 0
  for (const [, t] of flights) {
    most = Math.max(most, flights.filter(([start, answer]) => start < t + SECOND_MS && answer >= t).length)
  }
  return most
}

describe('three processes sharing one redis-server', () => {
  it(`start at most ${LIMIT} requests in any sliding second, however fast each one asks`, { timeout: 40_000 }, async () => {
    const { flights, perProcess, refusals } = await race(redis.url)
    // Every process got slots, and each was refused many times: they competed for one window.
    for (const count of perProcess) expect(count).toBeGreaterThan(0)
    expect(refusals).toBeGreaterThan(flights.length)
    // The window was used, not only obeyed: a new key waits one window, then about the limit per second.
    expect(flights.length).toBeGreaterThanOrEqual(LIMIT * 2)
    expect(busiestSecond(flights)).toBeLessThanOrEqual(LIMIT)
  })

  it('control: the same processes pacing alone breach the window', { timeout: 40_000 }, async () => {
    const { flights } = await race(undefined)
    expect(busiestSecond(flights)).toBeGreaterThan(LIMIT)
  })
})
