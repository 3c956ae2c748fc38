/**
 * A TCP relay between the browser and the proxy process, as a load balancer would be: a stable
 * address while proxy processes come and go, and a place to lose answers on purpose. It records
 * every byte the proxy sends back, for the key check.
 *
 * - `open`: bytes flow both ways.
 * - `hold`: requests still reach the proxy (and Conversion), but the answer to every POST sent
 *   while holding is swallowed, even one that comes after `release()`, as when a connection dies
 *   after the work was done (preflights are answered, or nothing would be sent at all). Such a
 *   connection is never used again: `release()` (or the proxy's death) resets it, and the browser
 *   sees a network error. Deciding when the request is sent, not when its answer comes, keeps a
 *   scenario that releases right after Conversion recorded the work from racing that answer.
 * - `refuse`: connections are reset, open ones and new ones (the proxy is down).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Capture } from './capture.js'

type Mode = 'open' | 'hold' | 'refuse'

interface Connection {
  client: Socket
  upstream: Socket
  /** The method of the request being answered (browsers do not pipeline: one at a time). */
  method: string
  /** A POST went out on it while holding: its answer and everything after are swallowed, as garbage to the client. */
  spoiled: boolean
}

const REQUEST_LINE = /^([A-Z]+) \S+ HTTP\/1\.[01]\r\n/

export class Gate {
  port = 0
  mode: Mode = 'open'
  /** Answer bytes swallowed while holding. */
  swallowed = 0
  private server: Server
  private connections = new Set<Connection>()

  constructor(
    private target: number,
    private readonly capture: Capture,
  ) {
    this.server = createServer((client) => this.accept(client))
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  /** Sends new connections to another proxy process. */
  retarget(port: number): void {
    this.target = port
  }

  hold(): void {
    this.mode = 'hold'
  }

  /** The proxy is down: open connections are reset and new ones refused. */
  refuse(): void {
    this.mode = 'refuse'
    this.cut()
  }

  /** Back to `open`; connections that lost an answer are reset. */
  release(): void {
    this.mode = 'open'
    for (const connection of this.connections) if (connection.spoiled) this.drop(connection)
  }

  /** Resets every connection (a network blip, or the proxy's host going away). */
  cut(): void {
    for (const connection of this.connections) this.drop(connection)
  }

  async stop(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.resetAndDestroy()
      return
    }
    const upstream = connect(this.target, '127.0.0.1')
    const connection: Connection = { client, upstream, method: '', spoiled: false }
    this.connections.add(connection)
    client.on('data', (chunk: Buffer) => {
      const method = REQUEST_LINE.exec(chunk.toString('latin1', 0, 64))?.[1]
      if (method) connection.method = method
      if (this.mode === 'hold' && connection.method === 'POST') connection.spoiled = true
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      this.capture.add('answers on the browser connections', chunk)
      if (connection.spoiled) {
        this.swallowed += chunk.length
        return
      }
      client.write(chunk)
    })
    // An orderly end passes on as one (the proxy closed after its answer); anything else resets.
    upstream.on('end', () => (connection.spoiled ? this.drop(connection) : client.end()))
    client.on('end', () => upstream.end())
    const close = () => this.drop(connection)
    for (const socket of [client, upstream]) {
      socket.on('error', close)
      socket.on('close', () => {
        this.connections.delete(connection)
        if (!client.destroyed) client.destroySoon()
        if (!upstream.destroyed) upstream.destroySoon()
      })
    }
  }

  private drop(connection: Connection): void {
    if (!this.connections.delete(connection)) return
    // A reset, not a polite close: the browser must not take a half answer for a whole one.
    if (!connection.client.destroyed) connection.client.resetAndDestroy()
    if (!connection.upstream.destroyed) connection.upstream.destroy()
  }
}
