/**
 * The backend client on Node with `redisUrl` and an invalid option, in a process of its own: the
 * option is refused, and nothing is left connected to Redis, so the process ends by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { bundleForNode, until } from './helpers/cli-process.js'
import { startRedis, type RedisServer } from './helpers/redis.js'

const KEY = 'sk_test_fake_client_options_0123456789abcdef'
/** Creates a client with the option given as JSON, and says how it was refused; then does nothing more. */
const SCRIPT = `
const { createClient } = await import(process.env.CLIENT_MODULE)
try {
  createClient({ apiKey: process.env.KEY, redisUrl: process.env.REDIS_URL, ...JSON.parse(process.env.OPTION) })
  console.log('created')
} catch (error) {
  console.log('refused: ' + error.message)
}
`

let redis: RedisServer
let clientModule: string
const children: ChildProcess[] = []

beforeAll(async () => {
  clientModule = pathToFileURL(await bundleForNode('src/adapters/node/server-client.ts', 'server-client')).href
  redis = await startRedis()
}, 30_000)
afterAll(async () => {
  await redis?.stop()
})
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL')
})

describe('the backend client with redisUrl and an invalid option', () => {
  for (const [option, named] of [
    [{ maxPending: 1 }, 'maxPending'],
    [{ maxRequestsPerSecond: 50 }, 'maxRequestsPerSecond'],
  ] as const) {
    it(`refuses ${named} and leaves no Redis connection behind: the process ends by itself`, async () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
        env: { PATH: process.env.PATH ?? '', CLIENT_MODULE: clientModule, KEY, REDIS_URL: redis.url, OPTION: JSON.stringify(option) },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let stdout = ''
      child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      // A client left connected (or reconnecting) keeps its process alive for good.
      await until(() => child.exitCode !== null, 10_000)
      expect(child.exitCode).toBe(0)
      // Refused by the client's own checks, before Redis is asked for anything.
      expect(stdout).toMatch(new RegExp(`^refused: conversion-engagements client: \`${named}\` must be`, 'm'))
      expect(stdout).not.toContain(KEY)
    })
  }
})
