import { afterEach, describe, expect, it } from 'vitest'
import { APP, nodeStack, postIds } from './helpers/node-stack.js'
import { rawSockets, trickle } from './helpers/raw-socket.js'

const KEY = 'sk_test_fake_slow_clients_0123456789abcdef'

const stack = nodeStack(KEY)
const sockets = rawSockets()
afterEach(async () => {
  sockets.destroyAll()
  await stack.close()
})

describe('serveProxy: connections that send too little, too slowly', () => {
  it('cuts a client that trickles its headers after headersTimeout, with 408, and serves others meanwhile', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { headersTimeout: 600 })
    const slow = Array.from({ length: 5 }, () => {
      const client = sockets.open(proxy.port)
      void trickle(client.socket, `POST /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\nX-Slow: ${'s'.repeat(200)}`, 1, 100)
      return client.closed
    })
    expect((await postIds(proxy, ['meanwhile'])).status).toBe(200)
    for (const { text, afterMs } of await Promise.all(slow)) {
      expect(text).toMatch(/^HTTP\/1\.1 408 /)
      expect(afterMs).toBeGreaterThanOrEqual(550)
      // Node's own default would hold it 60 to 90 s.
      expect(afterMs).toBeLessThan(3_000)
    }
  })

  it('closes a connection that never sends a byte after headersTimeout', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { headersTimeout: 600 })
    const { afterMs } = await sockets.open(proxy.port).closed
    expect(afterMs).toBeGreaterThanOrEqual(550)
    expect(afterMs).toBeLessThan(3_000)
  })

  it('closes an idle keep-alive connection after keepAliveTimeout', async () => {
    const proxy = await stack.proxy(await stack.emulator(), { keepAliveTimeout: 300 })
    const client = sockets.open(proxy.port)
    client.socket.write(`OPTIONS /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\n\r\n`)
    await expect.poll(client.received, { timeout: 2_000 }).toMatch(/^HTTP\/1\.1 204 [\s\S]*\r\n\r\n$/)
    const answeredAt = Date.now()
    const { text } = await client.closed
    // One answer, then nothing but the close; Node's own default would keep it about 6 s.
    expect(text.match(/HTTP\/1\.1/g)).toHaveLength(1)
    expect(Date.now() - answeredAt).toBeLessThan(3_000)
  })

  it('refuses nonsense timeouts at start-up, naming the option, the value and the range', async () => {
    const emulator = await stack.emulator()
    for (const option of ['headersTimeout', 'keepAliveTimeout', 'bodyTimeout'] as const) {
      for (const value of [0, -1, 1.5, Number.NaN, 2 ** 31, '100' as unknown as number]) {
        await expect(stack.proxy(emulator, { [option]: value })).rejects.toThrow(
          new TypeError(
            `conversion-engagements proxy: \`${option}\` must be a positive number (an integer of ms up to 2147483647), got ${typeof value === 'string' ? `"${value}"` : value}`,
          ),
        )
      }
    }
  })
})
