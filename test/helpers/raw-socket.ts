/**
 * A bare TCP client for tests that must speak to the Node server the way no well-behaved client
 * does: trickled headers, extra bytes after a request, idle connections, many connections from
 * one address. Every socket it opens is destroyed by `destroyAll()`: call it after each test.
 */
import { connect, type Socket } from 'node:net'

export interface RawSocket {
  socket: Socket
  /** Everything received so far, as text. */
  received(): string
  /** Resolves once the connection is open. */
  connected: Promise<void>
  /** Resolves once the server (or anything) closed the connection: all received, and when, from the connection's start. */
  closed: Promise<{ text: string; afterMs: number }>
}

export function rawSockets() {
  const open: Socket[] = []
  return {
    /**
     * Connects to 127.0.0.1:`port`, from `localAddress` when given (any address of 127.0.0.0/8
     * is loopback on Linux). Gives up after `limitMs`: the socket is then closed from this side.
     */
    open(port: number, localAddress?: string, limitMs = 10_000): RawSocket {
      const started = Date.now()
      const socket = connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) })
      open.push(socket)
      const limit = setTimeout(() => socket.destroy(), limitMs)
      socket.once('close', () => clearTimeout(limit))
      let text = ''
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => (text += chunk))
      socket.on('error', () => undefined)
      return {
        socket,
        received: () => text,
        connected: new Promise((resolve) => socket.once('connect', () => resolve())),
        closed: new Promise((resolve) => socket.once('close', () => resolve({ text, afterMs: Date.now() - started }))),
      }
    },
    destroyAll(): void {
      for (const socket of open.splice(0)) socket.destroy()
    },
  }
}

/** Writes `text` a few bytes at a time until the socket closes or all is sent. Resolves when it stops. */
export async function trickle(socket: Socket, text: string, bytesPerTick: number, tickMs: number): Promise<void> {
  for (let sent = 0; sent < text.length && !socket.destroyed; sent += bytesPerTick) {
    socket.write(text.slice(sent, sent + bytesPerTick))
    await new Promise((resolve) => setTimeout(resolve, tickMs))
  }
}

/** A POST of `body` to the proxy's path as a page of `origin` sends it, head and body, with `extraHead` (whole header lines) added. */
export function rawPost(origin: string, body: string, extraHead = ''): string {
  return `POST /api/relay HTTP/1.1\r\nHost: proxy\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHead}\r\n${body}`
}
