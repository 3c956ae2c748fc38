/**
 * A small HTTP load balancer in front of proxy replicas, as a fleet has: each request goes to the
 * next replica in turn (round robin per request, not per connection, so one browser's keep-alive
 * connection still spreads its requests), and a replica that refuses connections (killed, not
 * restarted yet) is skipped, as a balancer's passive health check does. A replica that dies
 * while a request is out resets the browser's connection: the browser sees a network error, as
 * behind a real balancer whose upstream went away. It records every answer, for the key check,
 * and how many requests each replica was given.
 */
import { request as forward, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Capture } from './capture.js'

/** Headers about one hop's connection: the balancer keeps its own on each side. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'])

export class Balancer {
  port = 0
  /** Requests sent to each replica (its connection accepted), by its place in `targets`. */
  readonly served: number[]
  private readonly targets: (number | undefined)[]
  private next = 0
  private readonly server: Server
  private readonly sockets = new Set<Socket>()

  constructor(
    targets: readonly number[],
    private readonly capture: Capture,
  ) {
    this.targets = [...targets]
    this.served = targets.map(() => 0)
    this.server = createServer((incoming, outgoing) => void this.handle(incoming, outgoing))
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  /** The replica at `index` now listens on `port` (it was restarted). */
  replace(index: number, port: number): void {
    this.targets[index] = port
  }

  /** Takes the replica at `index` out of rotation, as an operator drains a node; `replace` puts it back. */
  drain(index: number): void {
    this.targets[index] = undefined
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of incoming) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(incoming.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    headers['content-length'] = String(body.length)
    // Each replica in turn at most once: a refused connection sent nothing, so trying the next is safe.
    for (let tries = 0; tries < this.targets.length; tries++) {
      const index = this.next++ % this.targets.length
      const port = this.targets[index]
      if (port === undefined) continue
      const sent = await this.send(index, port, incoming, headers, body, outgoing)
      if (sent) return
    }
    outgoing.writeHead(502, { 'content-type': 'application/json' }).end('{"message":"no replica is reachable"}')
  }

  /** Sends one request to one replica; false when the replica refused the connection (nothing was sent). */
  private send(
    index: number,
    port: number,
    incoming: IncomingMessage,
    headers: Record<string, string | string[]>,
    body: Buffer,
    outgoing: ServerResponse,
  ): Promise<boolean> {
    return new Promise((resolve) => {
      // A connection per request: a replica's death then spoils only the requests it holds.
      const upstream = forward(
        { host: '127.0.0.1', port, method: incoming.method, path: incoming.url, headers, agent: false },
        (answer) => {
          const kept: string[] = []
          for (let i = 0; i < answer.rawHeaders.length; i += 2) {
            const name = answer.rawHeaders[i] as string
            if (!HOP_BY_HOP.has(name.toLowerCase())) kept.push(name, answer.rawHeaders[i + 1] as string)
          }
          this.capture.add('answers through the balancer', `${answer.statusCode} ${kept.join(' ')}\n`)
          outgoing.writeHead(answer.statusCode ?? 502, kept)
          answer.on('data', (chunk: Buffer) => {
            this.capture.add('answers through the balancer', chunk)
            outgoing.write(chunk)
          })
          answer.on('end', () => outgoing.end())
          // The replica died mid-answer: the browser must not take half an answer for a whole one.
          answer.on('aborted', () => outgoing.destroy())
          answer.on('error', () => outgoing.destroy())
          resolve(true)
        },
      )
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') return resolve(false)
        // The replica died with the request out: reset the browser's connection.
        outgoing.destroy()
        resolve(true)
      })
      upstream.once('socket', (socket) => socket.once('connect', () => (this.served[index] = (this.served[index] ?? 0) + 1)))
      upstream.end(body)
    })
  }
}
