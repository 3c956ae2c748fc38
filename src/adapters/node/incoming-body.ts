/**
 * A request body read straight from Node's `IncomingMessage`, with the bounds of the Web reader
 * (`readBodyText`: the same answers) and one more, in time: a body still arriving when its
 * deadline passes is refused with 408, which the page can read. No Web stream is built: a body
 * that is in already is taken from the stream's buffer in one call.
 */
import type { IncomingMessage } from 'node:http'
import { bodyTooLarge, bodyUnread, decodeBody, lengthOf, type BodyText } from '../../core/body.js'

/** When a body must be in: `at` in `Date.now()` ms, and the `ms` it was given (for the message). */
export interface BodyDeadline {
  at: number
  ms: number
}

const EMPTY = new Uint8Array(0)

/**
 * Reads the body of `incoming` as UTF-8 text, refusing more than `maxBytes`, or a body not in by
 * `deadline`; `onWhole` hears, before the answer, that every byte of the body was taken.
 */
export function readIncomingText(
  incoming: IncomingMessage,
  maxBytes: number,
  deadline: BodyDeadline | undefined,
  onWhole: () => void,
): Promise<BodyText> {
  const declared = lengthOf(incoming.headers['content-length'])
  if (declared !== undefined && declared > maxBytes) return Promise.resolve(bodyTooLarge(maxBytes, declared))
  if (isBuffered(incoming, declared)) return Promise.resolve(takeBuffered(incoming, maxBytes, onWhole))
  // Asked while the head is being handed over: the parser pushes the rest of the packet that
  // brought it (most often the whole body) before any promise settles, so look again then.
  return Promise.resolve().then(() =>
    isBuffered(incoming, declared) ? takeBuffered(incoming, maxBytes, onWhole) : readAsItComes(incoming, maxBytes, deadline, onWhole),
  )
}

/**
 * Whether every byte of the body is in the stream's buffer already: the parser pushes them as
 * they come, and flags the request complete a little later.
 */
function isBuffered(incoming: IncomingMessage, declared: number | undefined): boolean {
  return incoming.complete || (declared !== undefined && incoming.readableLength >= declared)
}

/** The body in the stream's buffer, taken whole. */
function takeBuffered(incoming: IncomingMessage, maxBytes: number, onWhole: () => void): BodyText {
  if (incoming.readableLength > maxBytes) return bodyTooLarge(maxBytes, incoming.readableLength)
  onWhole()
  return decodeBody((incoming.read() as Buffer | null) ?? EMPTY)
}

/** The body read chunk by chunk as it arrives, within `maxBytes` and `deadline`. */
function readAsItComes(
  incoming: IncomingMessage,
  maxBytes: number,
  deadline: BodyDeadline | undefined,
  onWhole: () => void,
): Promise<BodyText> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let bytes = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = (answer: BodyText) => {
      clearTimeout(timer)
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onBroken)
      incoming.off('close', onBroken)
      resolve(answer)
    }
    const onData = (chunk: Buffer) => {
      bytes += chunk.byteLength
      if (bytes > maxBytes) {
        // What is left is the answer's to discard (see `writeAnswer`), not this reader's to hold.
        incoming.pause()
        finish(bodyTooLarge(maxBytes, bytes))
      } else chunks.push(chunk)
    }
    const onEnd = () => {
      onWhole()
      finish(decodeBody(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes)))
    }
    // An error, or a close before the end: the client went away, or sent a broken chunked body.
    const onBroken = () => finish(bodyUnread(bytes))
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onBroken)
    incoming.on('close', onBroken)
    if (deadline) {
      timer = setTimeout(
        () => {
          incoming.pause()
          finish(bodyTooSlow(deadline.ms, bytes))
        },
        Math.max(0, deadline.at - Date.now()),
      )
    }
  })
}

/** The answer to a body still arriving at its deadline. */
export function bodyTooSlow(timeoutMs: number, bytes: number): BodyText {
  return { ok: false, status: 408, message: `the request body must arrive within ${timeoutMs} ms; send it again`, bytes }
}
