/**
 * What the server does when a connection brings bytes Node cannot parse as a request, or its
 * head too slowly. Node's own handling answers 400 (or 408, 413, 431) and destroys the socket,
 * even while a request that came whole before those bytes is still being answered: after a
 * `Connection: close` request, any further byte is a parse error ("Data after Connection:
 * close"), so such a request was handed to the proxy, forwarded, and its client told 400.
 * Here that request is answered, then the connection is closed, and the rest is ignored; with
 * nothing being answered, Node's handling is kept.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

export interface ClientErrorHandling {
  /** To call for every request handed to the application, before its answer. */
  track(request: IncomingMessage, response: ServerResponse): void
  /** The server's `clientError` listener. */
  onClientError(error: Error & { code?: string }, socket: Duplex): void
}

/** `headers` go on the bare answers to requests that could not be read. */
export function handleClientErrors(headers: Record<string, string>): ClientErrorHandling {
  /** Per connection, the requests handed to the application and not yet answered, in order (HTTP/1.1 may pipeline); answered ones are dropped at the next request. */
  const pending = new WeakMap<Duplex, Exchange[]>()
  /** Answers after which their connection closes; every later chunk of bytes is a new error. */
  const closing = new WeakSet<ServerResponse>()
  const lines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')

  return {
    track(request, response) {
      const socket = request.socket
      let exchanges = pending.get(socket)
      if (!exchanges) pending.set(socket, (exchanges = []))
      // Answers go out in order: those given already are no longer followed (checked here, not
      // with a listener per answer, which would cost every request more than this loop).
      let given = 0
      while (given < exchanges.length && isGiven((exchanges[given] as Exchange).response)) given++
      if (given > 0) exchanges.splice(0, given)
      exchanges.push({ request, response })
    },
    onClientError(error, socket) {
      const status = statusOf(error.code)
      const exchanges = (pending.get(socket) ?? []).filter(({ response }) => !isGiven(response))
      const last = exchanges.at(-1)
      // A socket error (the client left) ends everything; so does a parse error inside a
      // request's own body, which cannot be answered.
      if (status !== undefined && last?.request.complete) {
        if (!closing.has(last.response)) closeAfter(last.response, socket)
        closing.add(last.response)
        return
      }
      // Bytes written after the head of the answer on the wire would corrupt it.
      if (status !== undefined && socket.writable && !exchanges[0]?.response.headersSent) {
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n${lines}\r\n`)
      }
      socket.destroy()
    },
  }
}

interface Exchange {
  request: IncomingMessage
  response: ServerResponse
}

/** Whether an answer is out (or will never be): no longer being given. */
function isGiven(response: ServerResponse): boolean {
  return response.writableFinished || response.destroyed
}

/** The status Node answers a client error with, or undefined for errors of the socket itself. */
function statusOf(code: string | undefined): number | undefined {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408
  if (code === 'HPE_HEADER_OVERFLOW') return 431
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413
  return code?.startsWith('HPE_') ? 400 : undefined
}

/** Lets the answer under way finish, then closes: the parser cannot read anything after those bytes. */
function closeAfter(response: ServerResponse, socket: Duplex): void {
  if (!response.headersSent) response.setHeader('connection', 'close')
  else response.once('finish', () => socket.end())
}
