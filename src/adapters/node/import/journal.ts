/**
 * The upstream requests an import has on their way, in a file: a line `>` with a request's
 * engagements (id and digest) before it leaves, and a line `<` once none of them is on its way
 * any more: the memory of delivered engagements stored them all, Conversion refused the request
 * (nothing delivered), or they left again in a later request (which has a line of its own). So
 * what stays open is what is in flight, and the file is rewritten with only that whenever it has
 * grown, so it stays small whatever the size of the import.
 *
 * Killed while a request is on its way (or after Conversion took it but before the memory stored
 * that), the import cannot know whether Conversion has those engagements, and nobody can: the
 * resumed import sends them again, and says how many they were, so that a count of duplicates at
 * Conversion can be checked against it. A line the kill cut short is skipped and counted apart.
 */
import {
  appendFileSync,
  closeSync,
  createReadStream,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createInterface } from 'node:readline'
import type { MemoryKey } from '../../../core/coalescer/index.js'
import { digestOf, type Sha256Hex } from '../../../proxy/fingerprint.js'
import { cutOffBy } from '../cut-off.js'

export interface Journal {
  /**
   * Wraps `fetch`: each request to Conversion is written down before it leaves. Once `abandoned`
   * aborts, requests on their way are abandoned and stay written down (they may have arrived).
   */
  watch(fetcher: typeof fetch, abandoned: AbortSignal): typeof fetch
  /** The memory stored these as delivered: they are no longer on their way. */
  stored(keys: readonly MemoryKey[]): void
  /** What an earlier run left on its way (read once, at open). */
  readonly earlier: EarlierRun
  /** Forgets it all when nothing is on its way; otherwise keeps what is. */
  end(): void
}

/** What a killed run had on its way to Conversion. */
export interface EarlierRun {
  /** Engagements of requests not known refused or stored as delivered. */
  unanswered: MemoryKey[]
  /** Lines that could not be read (the last one, cut short by a kill): requests of unknown content, up to 200 engagements each. */
  unknownRequests: number
}

/** Bytes appended before the file is rewritten with only the open lines. */
const REWRITE_BYTES = 262_144

/** Opens the journal at `path`: reads what an earlier run left there, line by line, then starts afresh. */
export async function openJournal(path: string, sha256: Sha256Hex): Promise<Journal> {
  const earlier = existsSync(path) ? await readEarlier(path, sha256) : { unanswered: [], unknownRequests: 0 }
  rmSync(path, { force: true })
  /** Open requests: their engagements still on their way, id to digest. */
  const open = new Map<number, Map<string, string>>()
  /** The open request each engagement on its way is in. */
  const requestOf = new Map<string, number>()
  let requests = 0
  let appended = 0

  const lineOf = (request: number, keys: Map<string, string>) => `>\t${request}\t${JSON.stringify([...keys])}\n`
  const append = (text: string) => {
    appendFileSync(path, text)
    appended += text.length
  }
  const close = (request: number) => {
    const keys = open.get(request)
    if (!keys) return
    for (const id of keys.keys()) if (requestOf.get(id) === request) requestOf.delete(id)
    open.delete(request)
    append(`<\t${request}\n`)
  }
  /** Takes `ids` out of the requests they were in; a request left with none is closed. */
  const forget = (ids: Iterable<string>) => {
    for (const id of ids) {
      const request = requestOf.get(id)
      if (request === undefined) continue
      requestOf.delete(id)
      const keys = open.get(request)
      keys?.delete(id)
      if (keys?.size === 0) close(request)
    }
  }
  const rewriteIfGrown = () => {
    if (appended < REWRITE_BYTES) return
    // Written aside and renamed over: a kill in between leaves the old file whole.
    writeFileSync(`${path}.writing`, [...open].map(([request, keys]) => lineOf(request, keys)).join(''))
    renameSync(`${path}.writing`, path)
    appended = 0
  }

  return {
    earlier,
    watch: (fetcher, abandoned) => {
      const send = cutOffBy(fetcher, abandoned)
      return async (input, init) => {
        if (abandoned.aborted) throw abandoned.reason
        const request = ++requests
        // The body is the upstream client's string; a Request (from another caller) is read from a copy, so it still carries it.
        const body = typeof init?.body === 'string' ? init.body : input instanceof Request ? await input.clone().text() : undefined
        const keys = new Map((await keysOf(body, sha256)).map(({ id, digest }) => [id, digest]))
        forget(keys.keys())
        rewriteIfGrown()
        // Written before the request leaves: a kill after this line leaves it marked as possibly delivered.
        append(lineOf(request, keys))
        open.set(request, keys)
        for (const id of keys.keys()) requestOf.set(id, request)
        // No answer (a timeout, a lost connection, abandoned) leaves the line open: it may have arrived.
        const response = await send(input, init)
        if (!response.ok) close(request)
        return response
      }
    },
    stored: (keys) => forget(keys.map(({ id }) => id)),
    end: () => {
      if (open.size === 0) rmSync(path, { force: true })
    },
  }
}

/** The engagements in a batch body, read without trusting it to be one. */
async function keysOf(body: unknown, sha256: Sha256Hex): Promise<MemoryKey[]> {
  if (typeof body !== 'string') return []
  let batch: unknown[]
  try {
    batch = (JSON.parse(body) as { batch?: unknown[] }).batch ?? []
  } catch {
    return []
  }
  // The proxy writes each engagement as JSON.stringify would, so writing it again gives the text its digest was made of.
  return Promise.all(
    batch.map(async (item) => {
      const id = String((item as { id?: unknown } | null)?.id)
      return { id, digest: await digestOf(sha256, id, JSON.stringify(item)) }
    }),
  )
}

/** The open requests of an earlier run, read line by line (a line is whole only when a newline ends it). */
async function readEarlier(path: string, sha256: Sha256Hex): Promise<EarlierRun> {
  const open = new Map<string, MemoryKey[]>()
  let unreadable = 0
  let last: string | undefined
  const take = async (line: string) => {
    const [mark, request, entries] = line.split('\t')
    if (mark === '<' && request && entries === undefined) open.delete(request)
    else if (mark === '>' && request && entries !== undefined) {
      const keys = await keysOfLine(entries, sha256)
      if (keys) open.set(request, keys)
      else unreadable++
    } else if (line !== '') unreadable++
  }
  const endsWhole = lastByteOf(path) === 0x0a
  for await (const line of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
    if (last !== undefined) await take(last)
    last = line
  }
  // A line cut short: a `>` one was being written as its request left (its content is unknown);
  // a `<` one leaves its request open, counted with the others.
  if (last !== undefined && endsWhole) await take(last)
  else if (last?.startsWith('>')) unreadable++
  return { unanswered: [...open.values()].flat(), unknownRequests: unreadable }
}

/** The engagements of a `>` line: `[id, digest]` pairs (or, as earlier versions wrote, `{id, json}`); undefined when unreadable. */
async function keysOfLine(entries: string, sha256: Sha256Hex): Promise<MemoryKey[] | undefined> {
  let items: unknown
  try {
    items = JSON.parse(entries)
  } catch {
    return undefined
  }
  if (!Array.isArray(items)) return undefined
  const keys: MemoryKey[] = []
  for (const item of items) {
    if (Array.isArray(item) && typeof item[0] === 'string' && typeof item[1] === 'string') keys.push({ id: item[0], digest: item[1] })
    else if (typeof item?.id === 'string' && typeof item?.json === 'string')
      keys.push({ id: item.id, digest: await digestOf(sha256, item.id, item.json) })
    else return undefined
  }
  return keys
}

/** The last byte of a file, or undefined when it is empty. */
function lastByteOf(path: string): number | undefined {
  const fd = openSync(path, 'r')
  try {
    const { size } = fstatSync(fd)
    if (size === 0) return undefined
    const byte = Buffer.alloc(1)
    readSync(fd, byte, 0, 1, size - 1)
    return byte[0]
  } finally {
    closeSync(fd)
  }
}
