import { afterEach, describe, expect, it } from 'vitest'
import { APP, engagement, nodeStack } from './helpers/node-stack.js'
import { rawPost, rawSockets } from './helpers/raw-socket.js'

const KEY = 'sk_test_fake_extra_bytes_0123456789abcdefg'

const stack = nodeStack(KEY)
const sockets = rawSockets()
afterEach(async () => {
  sockets.destroyAll()
  await stack.close()
})

/** Sends `bytes` in one write on a new connection and resolves with everything that came back before the close. */
async function exchange(port: number, bytes: string): Promise<string> {
  const client = sockets.open(port)
  client.socket.write(bytes)
  return (await client.closed).text
}

describe('serveProxy: a request followed by bytes that are not one', () => {
  it('answers a Connection: close request with its own answer, ignoring what follows it', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    const body = JSON.stringify({ batch: [engagement('after-close')] })
    for (const extra of ['garbage', 'GET / HTTP/1.1\r\nHost: proxy\r\n\r\n', '\u0000'.repeat(70_000)]) {
      const answer = await exchange(proxy.port, rawPost(APP, body, 'Connection: close\r\n') + extra)
      expect(answer).toMatch(/^HTTP\/1\.1 200 /)
      expect(answer).toContain('"rejected":[]}')
      expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1)
    }
    expect(emulator.ids()).toEqual(['after-close'])
  })

  it('answers a keep-alive request whose follower is malformed, then closes the connection', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    const answer = await exchange(proxy.port, `${rawPost(APP, JSON.stringify({ batch: [engagement('kept-alive')] }))}NOT A REQUEST\r\n\r\n`)
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toContain('{"accepted":1,"duplicates":0,"rejected":[]}')
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1)
    expect(emulator.ids()).toEqual(['kept-alive'])
  })

  it('answers a request whose follower is too slow to send its head, instead of cutting both with 408', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ latencyMs: 1_500 })
    const proxy = await stack.proxy(emulator, { headersTimeout: 500 })
    const client = sockets.open(proxy.port)
    client.socket.write(`${rawPost(APP, JSON.stringify({ batch: [engagement('before-slow')] }))}POST /api/relay HTTP/1.1\r\nHost: pro`)
    const { text } = await client.closed
    expect(text).toMatch(/^HTTP\/1\.1 200 /)
    expect(text).toContain('{"accepted":1,"duplicates":0,"rejected":[]}')
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1)
  })

  it('still answers 400 (with the headers of every answer) to a malformed request that nothing precedes, and serves pipelined requests in order', async () => {
    const proxy = await stack.proxy(await stack.emulator())
    const refused = await exchange(proxy.port, 'NOT A REQUEST\r\n\r\n')
    expect(refused).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(refused).toContain('\r\nvary: Origin\r\nx-content-type-options: nosniff\r\n')
    const preflight = `OPTIONS /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\n\r\n`
    const pipelined = await exchange(proxy.port, preflight + preflight.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))
    expect(pipelined.match(/HTTP\/1\.1 204 /g)).toHaveLength(2)
  })
})
