import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { APP, engagement, nodeStack, postIds } from './helpers/node-stack.js'

const KEY = 'sk_test_fake_body_timeout_0123456789'
const body = JSON.stringify({ batch: [engagement('slow-1')] })

const stack = nodeStack(KEY)
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await stack.close()
})

/**
 * Opens a raw connection to the proxy and sends the head of a POST of `body`, with `extraHead`
 * (whole header lines) added; the body is the caller's to send. `closed` resolves with all that
 * came back once the connection closes.
 */
function rawRequest(port: number, extraHead = ''): { socket: Socket; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  let answer = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => (answer += chunk))
  socket.on('error', () => undefined)
  socket.write(
    `POST /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${extraHead}\r\n`,
  )
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(answer))) }
}

/** Sends the head at once and the body `bytesPerTick` at a time; resolves with what came back and when the socket closed. */
async function trickle(port: number, bytesPerTick: number, tickMs: number): Promise<{ answer: string; closedAfterMs: number }> {
  const started = Date.now()
  const { socket, closed } = rawRequest(port)
  let sent = 0
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= body.length) return clearInterval(timer)
    socket.write(body.slice(sent, sent + bytesPerTick))
    sent += bytesPerTick
  }, tickMs)
  const answer = await closed
  clearInterval(timer)
  return { answer, closedAfterMs: Date.now() - started }
}

describe('serveProxy: clients that trickle their body', () => {
  it('answers 408 once bodyTimeout has passed, closes the connection, and serves others meanwhile', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator, { bodyTimeout: 800 })

    const slow = Array.from({ length: 20 }, () => trickle(proxy.port, 2, 100))
    const normal = await postIds(proxy, ['slow-1'])
    expect(normal.status).toBe(200)

    for (const { answer, closedAfterMs } of await Promise.all(slow)) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(answer).toContain('{"message":"the request body must arrive within 800 ms; send it again"}')
      expect(answer.toLowerCase()).toContain(`access-control-allow-origin: ${APP}`)
      expect(closedAfterMs).toBeGreaterThanOrEqual(750)
      expect(closedAfterMs).toBeLessThan(3_000)
    }
    expect(emulator.ids()).toEqual(['slow-1'])
  })

  it('lets a slow body that arrives in time through, and does not time out the wait for settlement', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ latencyMs: 1_500 })
    const proxy = await stack.proxy(emulator, { bodyTimeout: 1_000 })
    const { socket, closed } = rawRequest(proxy.port, 'Connection: close\r\n')
    await new Promise((resolve) => setTimeout(resolve, 400))
    socket.write(body)
    const answer = await closed
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(answer).toContain('{"accepted":1,"duplicates":0,"rejected":[]}')
  })
})
