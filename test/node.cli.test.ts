/**
 * The `conversion-engagements` executable as operators run it: a child process, configured by
 * environment variables, in front of the emulator (and a real redis-server in fleet mode). The
 * CLI is bundled from the sources with esbuild first, as the package build does with rollup.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startEmulator, type RunningEmulator } from '../src/emulator/index.js'
import { signIdentity } from '../src/proxy/index.js'
import { buildCli, cli, stopClis, until } from './helpers/cli-process.js'
import { APP, engagement } from './helpers/node-stack.js'
import { startRedis, type RedisServer } from './helpers/redis.js'

const KEY = 'sk_test_fake_cli_secret_0123456789abcdefXYZ'
const IDENTITY_SECRET = 'identity-secret-never-printed'
const VARIABLES = [
  'CONVERSION_API_KEY',
  'ALLOWED_ORIGINS',
  'PROXY_PATH',
  'CONVERSION_API_URL',
  'IDENTITY_SECRET',
  'ALLOWED_TYPES',
  'MAX_REQUESTS_PER_SECOND',
  'PORT',
  'HOST',
  'TRUST_PROXY',
  'STATE_FILE',
  'REDIS_URL',
  'METRICS_PORT',
  'METRICS_HOST',
]

let emulator: RunningEmulator
let redis: RedisServer

beforeAll(async () => {
  await buildCli()
  emulator = await startEmulator({ apiKey: KEY })
  redis = await startRedis()
}, 30_000)
afterAll(async () => {
  await emulator?.close()
  await redis?.stop()
})
afterEach(() => {
  emulator.reset()
  stopClis()
})

/** Posts `ids` as a page does, with the contact's identity signature (the CLI is given IDENTITY_SECRET). */
const post = async (url: string, ids: string[]) => {
  const identity = { 'john@example.com': await signIdentity('john@example.com', IDENTITY_SECRET) }
  const body = JSON.stringify({ batch: ids.map(engagement), identity })
  return fetch(url, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body })
}

/** The exit code, or a failure once `timeoutMs` has passed without an exit. */
const exitWithin = (exited: Promise<number | null>, timeoutMs: number) =>
  new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms`)), timeoutMs)
    void exited.then((code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })

const configured = (extra: Record<string, string> = {}) => ({
  CONVERSION_API_KEY: KEY,
  ALLOWED_ORIGINS: APP,
  CONVERSION_API_URL: emulator.url,
  IDENTITY_SECRET,
  PORT: '0',
  ...extra,
})

describe('the CLI', () => {
  it('lists its commands, and every variable of the proxy with --help', async () => {
    const overview = cli(['--help'], {})
    expect(await overview.exited).toBe(0)
    expect(overview.output.stdout).toMatch(/conversion-engagements <command>[\s\S]*proxy/)
    const help = cli(['proxy', '--help'], {})
    expect(await help.exited).toBe(0)
    for (const name of VARIABLES) expect(help.output.stdout, name).toContain(name)
    const wrong = cli(['serve'], {})
    expect(await wrong.exited).toBe(2)
    expect(wrong.output.stderr).toContain('unknown command "serve"')
  })

  it.each([
    [{ CONVERSION_API_KEY: '' }, /`CONVERSION_API_KEY` must be set/],
    [{ ALLOWED_ORIGINS: '' }, /`ALLOWED_ORIGINS` must be a comma-separated list of at least one origin/],
    [{ ALLOWED_ORIGINS: 'ftp://app.example.com' }, /`ALLOWED_ORIGINS` entry "ftp:\/\/app.example.com"/],
    [{ MAX_REQUESTS_PER_SECOND: '11' }, /`MAX_REQUESTS_PER_SECOND` must be a whole number from 1 to 10 \(got "11"\)/],
    [{ PORT: 'eighty' }, /`PORT` must be a whole number from 0 to 65535, in decimal digits \(got "eighty"\)/],
    [{ TRUST_PROXY: 'maybe' }, /`TRUST_PROXY` must be true or false \(got "maybe"\)/],
    [{ PROXY_PATH: 'relay' }, /`PROXY_PATH` must be a path starting with "\/" \(got "relay"\)/],
    [{ REDIS_URL: 'http://user:hunter2@redis.internal:6379' }, /`REDIS_URL` must be a redis:\/\/ or rediss:\/\/ URL$/m],
    [
      { REDIS_URL: 'redis://user:hunter2@127.0.0.1:1', STATE_FILE: '/tmp/delivered.log' },
      /`STATE_FILE` must be unset when REDIS_URL is set/,
    ],
    [{ HOST: 'localhost:8080' }, /`HOST` must be an IP address or a host name, without a port .*\(got "localhost:8080"\)/],
    [{ HOST: '[::1]' }, /`HOST` must be an IP address or a host name, without a port or brackets .*\(got "\[::1\]"\)/],
    [{ PORT: '0x1F90' }, /`PORT` must be a whole number from 0 to 65535, in decimal digits \(got "0x1F90"\)/],
    [{ PORT: '1e3' }, /`PORT` must be a whole number from 0 to 65535, in decimal digits \(got "1e3"\)/],
    [{ METRICS_PORT: '+9464' }, /`METRICS_PORT` must be a whole number from 0 to 65535, in decimal digits \(got "\+9464"\)/],
    [{ MAX_REQUESTS_PER_SECOND: '0b101' }, /`MAX_REQUESTS_PER_SECOND` must be a whole number from 1 to 10, in decimal digits/],
    [{ METRICS_HOST: '0.0.0.0' }, /`METRICS_HOST` must be set only with METRICS_PORT/],
    [{ METRICS_HOST: 'metrics host', METRICS_PORT: '0' }, /`METRICS_HOST` must be an IP address or a host name/],
  ])('refuses %o: exits 2, names the variable, prints no secret', async (wrong, message) => {
    const run = cli(['proxy'], { ...configured(), ...wrong })
    // Bounded: a value taken by mistake starts a server, which would never exit by itself.
    expect(await exitWithin(run.exited, 10_000)).toBe(2)
    expect(run.output.stderr).toMatch(message)
    const said = run.output.stdout + run.output.stderr
    for (const secret of [KEY, IDENTITY_SECRET, 'hunter2']) expect(said).not.toContain(secret)
  })

  it('in fleet mode: prints where it listens, answers health checks and metrics, and on SIGTERM answers the request in flight and exits 0', {
    timeout: 30_000,
  }, async () => {
    const run = cli(['proxy'], configured({ REDIS_URL: redis.url, METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' }))
    const url = (await run.printed(/listening on (http:\/\/127\.0\.0\.1:\d+\/api\/relay)\n/))[1] as string
    const origin = new URL(url).origin
    const metricsUrl = (await run.printed(/metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)\n/))[1] as string
    await run.printed(/pacing: shared with every replica of this API key through Redis/)
    expect((await fetch(`${origin}/healthz`)).status).toBe(200)
    await until(async () => (await fetch(`${origin}/readyz`)).status === 200)
    expect(await (await post(url, ['cli-1', 'cli-2'])).json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] })
    const metrics = await (await fetch(metricsUrl)).text()
    expect(metrics).toContain('conversion_engagements_engagements_total{outcome="accepted"} 2')
    expect(metrics).toContain('conversion_engagements_redis_reachable 1')
    expect(metrics).not.toContain(KEY)

    emulator.setFaults({ latencyMs: 1_500 })
    const inFlight = post(url, ['cli-3'])
    await until(() => emulator.requests().some((request) => request.status === null))
    process.kill(run.child.pid as number, 'SIGTERM')
    const answer = await inFlight
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    expect(await run.exited).toBe(0)
    expect(run.output.stdout).toMatch(/SIGTERM: stopping[\s\S]*stopped/)
    expect(emulator.ids()).toEqual(['cli-1', 'cli-2', 'cli-3'])
    expect(run.output.stdout + run.output.stderr).not.toContain(KEY)
  })

  it('alone: says that it paces alone, and stops on SIGINT with exit 0', async () => {
    // A host name is taken as well as an address.
    const run = cli(['proxy'], configured({ HOST: 'localhost' }))
    await run.printed(/pacing: alone in this process/)
    process.kill(run.child.pid as number, 'SIGINT')
    expect(await run.exited).toBe(0)
  })

  it('exits 1 with the reason when it cannot listen', async () => {
    const first = cli(['proxy'], configured())
    const port = new URL((await first.printed(/listening on (\S+)\n/))[1] as string).port
    const second = cli(['proxy'], configured({ PORT: port }))
    expect(await second.exited).toBe(1)
    expect(second.output.stderr).toMatch(/could not start: .*EADDRINUSE/)
    process.kill(first.child.pid as number, 'SIGTERM')
    expect(await first.exited).toBe(0)
  })
})
