import { afterEach, describe, expect, it } from 'vitest'
import { addressGroup } from '../src/adapters/node/connection-cap.js'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { rawSockets } from './helpers/raw-socket.js'

const KEY = 'sk_test_fake_connection_cap_0123456789abcd'
const PREFLIGHT = `OPTIONS /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n`

const stack = nodeStack(KEY)
const sockets = rawSockets()
afterEach(async () => {
  sockets.destroyAll()
  await stack.close()
})

/** Sends a preflight on a new connection from `localAddress` and resolves with all that came back. */
async function preflightFrom(proxy: RunningProxy, localAddress: string, extraHead = ''): Promise<string> {
  const client = sockets.open(proxy.port, localAddress)
  client.socket.write(PREFLIGHT.replace('\r\n\r\n', `\r\n${extraHead}\r\n`))
  return (await client.closed).text
}

describe('serveProxy: open connections per client address', () => {
  it('closes the connection beyond maxConnectionsPerClient at once, while another address gets through', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { maxConnectionsPerClient: 3 })
    const held = Array.from({ length: 3 }, () => sockets.open(proxy.port, '127.0.0.1'))
    await Promise.all(held.map((client) => client.connected))

    const refused = sockets.open(proxy.port, '127.0.0.1')
    const { text, afterMs } = await refused.closed
    expect(text).toBe('')
    // The header timeout (10 s by default) is not what closed it.
    expect(afterMs).toBeLessThan(2_000)
    expect(await preflightFrom(proxy, '127.0.0.2')).toMatch(/^HTTP\/1\.1 204 /)
    for (const client of held) expect(client.socket.destroyed).toBe(false)

    // A connection that closes gives its place back.
    held[0]!.socket.destroy()
    await expect.poll(() => preflightFrom(proxy, '127.0.0.1'), { timeout: 3_000 }).toMatch(/^HTTP\/1\.1 204 /)
  })

  it('does not cap behind a trusted reverse proxy, where every client comes from its address', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { trustProxy: true })
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) => preflightFrom(proxy, '127.0.0.1', `X-Forwarded-For: 10.0.0.${i}\r\n`)),
    )
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 204 /)
  })

  it('refuses a cap with trustProxy, and caps that are not positive integers, at start-up', async () => {
    const emulator = await stack.emulator()
    await expect(stack.proxy(emulator, { trustProxy: true, maxConnectionsPerClient: 10 })).rejects.toThrow(
      /`maxConnectionsPerClient` cannot be used with `trustProxy: true`/,
    )
    for (const value of [0, -1, 2.5, Number.POSITIVE_INFINITY, true as unknown as number]) {
      await expect(stack.proxy(emulator, { maxConnectionsPerClient: value })).rejects.toThrow(
        new TypeError(
          `conversion-engagements proxy: \`maxConnectionsPerClient\` must be a positive integer or false, got ${String(value)}`,
        ),
      )
    }
  })
})

describe('addressGroup: what counts as one client', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
  ])('%s is %s', (address, group) => expect(addressGroup(address)).toBe(group))

  it('has none for a socket without an address', () => expect(addressGroup(undefined)).toBeUndefined())
})

describe('serveProxy: the per-client request limit counts clients as the cap does', () => {
  it('counts an IPv6 /64 as one client, and an IPv4-mapped address as its IPv4 one', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { trustProxy: true, clientRateLimit: { requests: 2, windowMs: 60_000 } })
    const status = (client: string) => postFrom(proxy, client)
    expect(await status('2001:db8:1:2::a')).toBe(400)
    expect(await status('2001:db8:1:2::b')).toBe(400)
    expect(await status('2001:db8:1:2:ffff::c')).toBe(429)
    expect(await status('2001:db8:1:3::a')).toBe(400)
    expect(await status('203.0.113.9')).toBe(400)
    expect(await status('::ffff:203.0.113.9')).toBe(400)
    expect(await status('203.0.113.9')).toBe(429)
  })
})

/** Posts an empty batch as `client` behind a trusted reverse proxy: 400 once past the per-client limit, 429 when refused by it. */
async function postFrom(proxy: RunningProxy, client: string): Promise<number> {
  const response = await fetch(proxy.url, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json', 'x-forwarded-for': client },
    body: '{"batch":[]}',
  })
  await response.body?.cancel()
  return response.status
}
