/**
 * One client request as the proxy reads it, whatever carried it: its method, path, headers, a
 * bounded reader of its body, and the client it comes from. `fetch` adapts a Web `Request` to
 * it; a host that reads requests another way (the Node server, from `IncomingMessage`) builds
 * it directly, and skips the Web streams, signals and objects a `Request` costs.
 */
import { readBodyText, type BodyText } from '../core/body.js'

export interface Exchange {
  /** In upper case, as HTTP sends it. */
  readonly method: string
  /** The path of the request's URL, without its query. */
  readonly path: string
  /** A request header by its lower-case name; null when absent. */
  header(name: string): string | null
  /**
   * The body as UTF-8 text, refusing more than `maxBytes` (see `readBodyText` for the answers).
   * Called at most once.
   */
  readBody(maxBytes: number): Promise<BodyText>
  /** Names the client for the per-client limits (an address); undefined when the host cannot tell. */
  client(): string | undefined
}

/** The exchange of a Web `Request`; `client` names its client (the proxy's `clientKey`). */
export function requestExchange(request: Request, client: () => string | undefined): Exchange {
  return {
    method: request.method,
    get path() {
      return new URL(request.url).pathname
    },
    header: (name) => request.headers.get(name),
    readBody: (maxBytes) => readBodyText(request, maxBytes),
    client,
  }
}
