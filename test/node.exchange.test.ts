/**
 * The Node proxy reads requests straight from Node and writes its answers with `writeHead` and
 * `end`: bodies however they arrive (whole, in pieces, chunked, too large, not UTF-8, cut short
 * by a client that leaves), request targets however they are written, bodies left unread after
 * an early answer, and the `clientKey` a host gives `serveProxy`. Over real sockets.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { APP, engagement, nodeStack, postIds } from './helpers/node-stack.js'
import { rawPost, rawSockets, trickle } from './helpers/raw-socket.js'
import { until } from './helpers/until.js'

const KEY = 'sk_test_fake_node_exchange_0123456789abcdef'

const stack = nodeStack(KEY)
const sockets = rawSockets()
afterEach(async () => {
  sockets.destroyAll()
  await stack.close()
})

const bodyOf = (ids: string[]) => JSON.stringify({ batch: ids.map(engagement) })

/** Sends `bytes` in one write on a new connection and resolves with all that came back before the close. */
async function exchange(port: number, bytes: string | Buffer): Promise<string> {
  const client = sockets.open(port)
  client.socket.write(bytes)
  return (await client.closed).text
}

/** The head of a POST to the proxy's path from {@link APP}, with `extraHead` (whole header lines). */
const head = (extraHead: string, target = '/api/relay') =>
  `POST ${target} HTTP/1.1\r\nHost: proxy\r\nOrigin: ${APP}\r\nContent-Type: application/json\r\n${extraHead}\r\n`

/** `text` as the chunks of a chunked body, `size` characters each (ASCII), with the last chunk. */
const chunked = (text: string, size: number) => {
  let out = ''
  for (let at = 0; at < text.length; at += size)
    out += `${Math.min(size, text.length - at).toString(16)}\r\n${text.slice(at, at + size)}\r\n`
  return `${out}0\r\n\r\n`
}

describe('serveProxy: bodies as Node receives them', () => {
  it('reads a body sent in pieces, and a chunked one', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    const client = sockets.open(proxy.port)
    await trickle(client.socket, rawPost(APP, bodyOf(['pieces-1']), 'Connection: close\r\n'), 60, 5)
    expect((await client.closed).text).toMatch(/^HTTP\/1\.1 200 [\s\S]*\{"accepted":1,"duplicates":0,"rejected":\[\]\}$/)
    const answer = await exchange(
      proxy.port,
      head('Transfer-Encoding: chunked\r\nConnection: close\r\n') + chunked(bodyOf(['chunked-1']), 50),
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 [\s\S]*\{"accepted":1,"duplicates":0,"rejected":\[\]\}$/)
    expect(emulator.ids().sort()).toEqual(['chunked-1', 'pieces-1'])
  })

  it('refuses a body over maxBodyBytes with 413, declared or counted, and the connection carries the next request', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator, { maxBodyBytes: 2_048 })
    const large = JSON.stringify({ batch: [{ ...engagement('large-1'), description: 'd'.repeat(3_000) }] })
    // Declared: refused before a byte of it is read; what follows it is the next request.
    const declared = await exchange(proxy.port, rawPost(APP, large) + rawPost(APP, bodyOf(['after-large']), 'Connection: close\r\n'))
    expect(declared.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 413', 'HTTP/1.1 200'])
    expect(declared).toContain('{"message":"request body must be at most 2048 bytes"}')
    // Counted: a chunked body has no length to declare.
    const counted = await exchange(proxy.port, head('Transfer-Encoding: chunked\r\nConnection: close\r\n') + chunked(large, 500))
    expect(counted).toMatch(/^HTTP\/1\.1 413 [\s\S]*\{"message":"request body must be at most 2048 bytes"\}$/)
    expect(emulator.ids()).toEqual(['after-large'])
  })

  it('refuses a body that is not UTF-8 with 400, and reads one that starts with a byte order mark', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    const broken = Buffer.concat([Buffer.from('{"batch":[{"id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')])
    const refused = await exchange(
      proxy.port,
      Buffer.concat([Buffer.from(head(`Content-Length: ${broken.length}\r\nConnection: close\r\n`)), broken]),
    )
    expect(refused).toMatch(/^HTTP\/1\.1 400 [\s\S]*\{"message":"request body must be UTF-8 text"\}$/)
    const marked = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(bodyOf(['marked-1']))])
    const read = await exchange(
      proxy.port,
      Buffer.concat([Buffer.from(head(`Content-Length: ${marked.length}\r\nConnection: close\r\n`)), marked]),
    )
    expect(read).toMatch(/^HTTP\/1\.1 200 [\s\S]*"accepted":1/)
    expect(emulator.ids()).toEqual(['marked-1'])
  })

  it('gives back what a client that leaves in the middle of its body held, forwards nothing of it, and serves that client again', async () => {
    const emulator = await stack.emulator()
    let arrived = 0
    // One client may hold a quarter of 1 MiB of bodies being read: this body declares all of it.
    const proxy = await stack.proxy(emulator, {
      maxIntakeBytes: 1_048_576,
      maxBodyBytes: 262_144,
      clientKey: (_request, env) => {
        arrived++
        return (env as { address?: string }).address
      },
    })
    const client = sockets.open(proxy.port)
    client.socket.write(`${head('Content-Length: 262144\r\n')}{"batch":[`)
    // The proxy named its client, then reserved what the body declares, before the client leaves.
    await until(async () => arrived === 1)
    client.socket.destroy()
    // Had a reservation been kept, this client would be told to wait (429) for good.
    await until(async () => (await postIds(proxy, ['after-leaving'])).status === 200)
    expect(emulator.ids()).toEqual(['after-leaving'])
  })
})

describe('serveProxy: what a request says of itself', () => {
  it('finds its path as a URL would: with a query, in absolute form, with dot segments', async () => {
    const proxy = await stack.proxy(await stack.emulator())
    const statusOf = async (target: string) => {
      const answer = await exchange(
        proxy.port,
        head(`Content-Length: ${bodyOf(['t']).length}\r\nConnection: close\r\n`, target) + bodyOf(['t']),
      )
      return Number(answer.slice(9, 12))
    }
    expect(await statusOf('/api/relay?from=page')).toBe(200)
    expect(await statusOf('http://proxy/api/relay')).toBe(200)
    expect(await statusOf('/api/./relay')).toBe(200)
    expect(await statusOf('/api/relay/')).toBe(404)
    expect(await statusOf('/api//relay')).toBe(404)
  })

  it('answers a HEAD health check with its headers and no body', async () => {
    const proxy = await stack.proxy(await stack.emulator())
    const answer = await exchange(proxy.port, 'HEAD /healthz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 200 [\s\S]*cache-control: no-store\r\n[\s\S]*\r\n\r\n$/i)
  })

  it('answers 400 to a request line without a version (HTTP/0.9 to Node), and closes', async () => {
    const proxy = await stack.proxy(await stack.emulator())
    const answer = await exchange(proxy.port, 'GET /api/relay\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 400 [\s\S]*connection: close\r\n[\s\S]*HTTP\/0\.9 requests are not served\n$/i)
  })

  it('closes, soon after answering, a connection whose refused body never comes', async () => {
    const proxy = await stack.proxy(await stack.emulator())
    const client = sockets.open(proxy.port)
    client.socket.write(head('Content-Length: 100000\r\n').replace(`Origin: ${APP}`, 'Origin: https://elsewhere.example'))
    const { text, afterMs } = await client.closed
    expect(text).toMatch(/^HTTP\/1\.1 403 /)
    // Node's own deadline for the request would hold it headersTimeout + bodyTimeout (40 s).
    expect(afterMs).toBeLessThan(3_000)
  })

  it('reads past an early answer a refused body that keeps coming, however long it takes, so the client gets its answer and the connection carries the next request', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator)
    const client = sockets.open(proxy.port)
    const refused = ' '.repeat(40_000)
    client.socket.write(head(`Content-Length: ${refused.length}\r\n`).replace(`Origin: ${APP}`, 'Origin: https://elsewhere.example'))
    // 20 pieces 100 ms apart: two seconds in all, never half a second without a byte.
    await trickle(client.socket, refused, 2_000, 100)
    await until(async () => /^HTTP\/1\.1 403 /.test(client.received()))
    client.socket.write(rawPost(APP, bodyOf(['after-refused-1']), 'Connection: close\r\n'))
    const { text } = await client.closed
    expect(text).toMatch(/^HTTP\/1\.1 403 [\s\S]*HTTP\/1\.1 200 [\s\S]*\{"accepted":1,"duplicates":0,"rejected":\[\]\}$/)
    expect(emulator.ids()).toEqual(['after-refused-1'])
  })

  it('hands a clientKey given to serveProxy the head of the request, for the per-client limit', async () => {
    const emulator = await stack.emulator()
    const seen: string[] = []
    const proxy = await stack.proxy(emulator, {
      clientRateLimit: { requests: 1, windowMs: 60_000 },
      clientKey: (request, env) => {
        seen.push(`${request.method} ${new URL(request.url).pathname} ${(env as { address?: string }).address}`)
        return request.headers.get('x-tenant') ?? undefined
      },
    })
    const post = (tenant: string, id: string) =>
      fetch(proxy.url, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json', 'x-tenant': tenant },
        body: bodyOf([id]),
      })
    expect((await post('a', 'tenant-a-1')).status).toBe(200)
    expect((await post('a', 'tenant-a-2')).status).toBe(429)
    expect((await post('b', 'tenant-b-1')).status).toBe(200)
    expect(seen).toEqual(Array(3).fill('POST /api/relay 127.0.0.1'))
    expect(emulator.ids().sort()).toEqual(['tenant-a-1', 'tenant-b-1'])
  })
})
