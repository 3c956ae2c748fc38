/**
 * HTTP/1.1 over a bare socket, for requests no well-behaved client would send: broken framing,
 * injected header lines, huge headers, bodies trickled a few bytes at a time. Every exchange is
 * bounded in time and its answer captured for the key check.
 */
import { connect } from 'node:net'
import type { Capture } from './capture.js'

export interface RawAnswer {
  /** The status code, or undefined when the connection closed without an answer. */
  status: number | undefined
  head: string
  body: string
  /** From the first byte sent until the server closed the connection (or the time limit). */
  closedAfterMs: number
}

export interface RawOptions {
  /** Send the first `from` bytes at once (default: none), then the rest `bytes` at a time, every `everyMs`. */
  trickle?: { bytes: number; everyMs: number; from?: number }
  /** Give up (and close) after this long. Default 10 s. */
  timeoutMs?: number
}

/** A request as text: a head with `Host` and `Connection: close` unless given, and a body with its length unless given. */
export function request(method: string, path: string, headers: Record<string, string> = {}, body: string | Buffer = ''): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  const names = Object.keys(headers).map((name) => name.toLowerCase())
  const all = {
    ...(names.includes('host') ? {} : { Host: 'proxy.example' }),
    ...(names.includes('connection') ? {} : { Connection: 'close' }),
    ...(names.includes('content-length') || names.includes('transfer-encoding') || bytes.length === 0
      ? {}
      : { 'Content-Length': String(bytes.length) }),
    ...headers,
  }
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes])
}

/** Sends `bytes` to 127.0.0.1:`port` and collects whatever comes back until the server closes. */
export function exchange(port: number, bytes: Buffer | string, capture: Capture, options: RawOptions = {}): Promise<RawAnswer> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  let timer: ReturnType<typeof setInterval> | undefined
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => undefined)
  socket.once('connect', () => {
    if (!options.trickle) {
      socket.write(data)
      return
    }
    const { bytes: step, everyMs, from = 0 } = options.trickle
    let sent = from
    socket.write(data.subarray(0, from))
    timer = setInterval(() => {
      if (socket.destroyed || sent >= data.length) return clearInterval(timer)
      socket.write(data.subarray(sent, sent + step))
      sent += step
    }, everyMs)
  })
  return new Promise((resolve) => {
    const limit = setTimeout(() => socket.destroy(), options.timeoutMs ?? 10_000)
    socket.once('close', () => {
      clearTimeout(limit)
      clearInterval(timer)
      const all = Buffer.concat(chunks).toString('latin1')
      capture.add('answers to hostile requests', all)
      // An interim `100 Continue` precedes the real answer.
      const text = all.replace(/^(HTTP\/1\.1 100 Continue\r\n\r\n)+/, '')
      const split = text.indexOf('\r\n\r\n')
      const head = split < 0 ? text : text.slice(0, split)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]
      resolve({
        status: status === undefined ? undefined : Number(status),
        head,
        body: split < 0 ? '' : text.slice(split + 4),
        closedAfterMs: Date.now() - started,
      })
    })
  })
}
