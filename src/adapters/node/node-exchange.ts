/**
 * The proxy's exchange built straight from Node's request, and its answer written straight to
 * Node's response (`writeHead`, `end`): no Web `Request`, `Headers`, `AbortSignal`, stream or
 * `Response` on the way, which cost several times what the proxy's own checks do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BodyText } from '../../core/body.js'
import type { Exchange } from '../../proxy/exchange.js'
import type { WireAnswer } from '../../proxy/responses.js'
import { readIncomingText } from './incoming-body.js'

/** An exchange of the Node host: the proxy's view of a request, and the request itself for the host's own wrappers. */
export interface NodeExchange extends Exchange {
  readonly incoming: IncomingMessage
  /** Whether every byte of the body was taken (Node may flag the request complete a little later). */
  readonly bodyTaken: boolean
  /** When the body must be in, `Date.now()` ms; undefined without a deadline of the proxy's own. */
  readonly bodyDeadline: number | undefined
}

/** Answers one exchange of the Node host; never rejects. */
export type ExchangeHandler = (exchange: NodeExchange) => Promise<WireAnswer>

/** How the host reads a request beyond what it says: who sent it, and how long its body may take. */
export interface ExchangeOptions {
  /** Names the client of a request, for the per-client limits. */
  clientOf(incoming: IncomingMessage): string | undefined
  /** Milliseconds a body may take from the moment the request's head arrived (then 408). Default: no deadline of the proxy's own. */
  bodyTimeout?: number | undefined
}

/** The exchange of one Node request; the deadline of its body runs from now. */
export function nodeExchange(incoming: IncomingMessage, options: ExchangeOptions): NodeExchange {
  return new IncomingExchange(incoming, options)
}

class IncomingExchange implements NodeExchange {
  readonly method: string
  bodyTaken = false
  private readonly arrivedAt = Date.now()
  private knownPath: string | undefined

  constructor(
    readonly incoming: IncomingMessage,
    private readonly options: ExchangeOptions,
  ) {
    this.method = incoming.method ?? 'GET'
  }

  get path(): string {
    return (this.knownPath ??= pathOf(this.incoming.url ?? '/'))
  }

  header(name: string): string | null {
    const value = this.incoming.headers[name]
    // Node joins repeated headers with ", " as `Headers.get` does, except Set-Cookie, which no request sends.
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
  }

  get bodyDeadline(): number | undefined {
    const { bodyTimeout } = this.options
    return bodyTimeout === undefined ? undefined : this.arrivedAt + bodyTimeout
  }

  readBody(maxBytes: number): Promise<BodyText> {
    const { bodyTimeout } = this.options
    const deadline = bodyTimeout === undefined ? undefined : { at: this.arrivedAt + bodyTimeout, ms: bodyTimeout }
    return readIncomingText(this.incoming, maxBytes, deadline, () => (this.bodyTaken = true))
  }

  client(): string | undefined {
    return this.options.clientOf(this.incoming)
  }
}

/**
 * A request target already in the plain form of a path is its own path: only characters a URL
 * keeps as they are, and no dot, escape or empty segment, which it would normalize. Each segment
 * but the last ends in its slash, so the pattern never backtracks.
 */
const PLAIN_PATH = /^\/(?:[\w\-~!$&'()*+,;=:@]+\/)*[\w\-~!$&'()*+,;=:@]*(?:\?|$)/

/** The path of a request target, as `new URL(...).pathname` gives it. */
function pathOf(target: string): string {
  if (PLAIN_PATH.test(target)) {
    const query = target.indexOf('?')
    return query < 0 ? target : target.slice(0, query)
  }
  try {
    // As the request's URL would be built: an origin-form target after the host, else the absolute form as it is.
    return new URL(target.startsWith('/') ? `http://localhost${target}` : target).pathname
  } catch {
    return ''
  }
}

/**
 * A body the answer left unread is discarded while it keeps coming: the connection closes once
 * none of it arrives for `DISCARD_IDLE_MS`, once `DISCARD_BYTES` came, or at the body's deadline
 * (`DISCARD_MAX_MS` without one). Closing while the client still sends would reset the
 * connection, and a reset can destroy the answer in the client's buffer before it is read.
 */
const DISCARD_IDLE_MS = 500
const DISCARD_MAX_MS = 30_000
const DISCARD_BYTES = 64 * 1_048_576

/**
 * Writes `answer`. A request body still arriving once answered (an early refusal, a body too
 * large) is discarded while it keeps coming, so that the client reads its answer and a
 * keep-alive connection can carry the next request; after a 408 the connection closes at once:
 * that client is too slow to wait for.
 */
export function writeAnswer(
  { incoming, bodyTaken, bodyDeadline }: NodeExchange,
  outgoing: ServerResponse,
  { status, headers, body }: WireAnswer,
): void {
  if (outgoing.headersSent || outgoing.destroyed) return
  const unread = !bodyTaken && !incoming.complete
  const sent: Record<string, string> = { ...headers }
  if (body !== null) sent['content-length'] = String(Buffer.byteLength(body))
  if (unread && status === 408) sent.connection = 'close'
  outgoing.writeHead(status, sent)
  outgoing.end(body ?? undefined)
  if (unread) discardRest(incoming, bodyDeadline ?? Date.now() + DISCARD_MAX_MS)
}

function discardRest(incoming: IncomingMessage, until: number): void {
  if (incoming.destroyed) return
  let bytes = 0
  const stop = () => {
    done()
    if (!incoming.complete) incoming.socket?.destroySoon()
  }
  const timer = setTimeout(stop, Math.min(DISCARD_IDLE_MS, Math.max(0, until - Date.now())))
  const onData = (chunk: Buffer) => {
    bytes += chunk.byteLength
    const left = until - Date.now()
    if (bytes > DISCARD_BYTES || left <= 0) stop()
    else timer.refresh()
  }
  const done = () => {
    clearTimeout(timer)
    incoming.off('data', onData)
    incoming.off('end', done)
    incoming.off('close', done)
  }
  incoming.on('data', onData)
  incoming.on('end', done)
  incoming.on('close', done)
  incoming.resume()
}
