/**
 * The upstream requests an import has started, in a file: a line `>` with the request's ids before
 * it leaves, and a line `<` once it is known NOT to have delivered them (an error answer, no
 * answer). A request Conversion took is settled by the memory of delivered engagements instead.
 * Killed while a request is on its way (or after Conversion took it but before the memory stored
 * that), the import cannot know whether Conversion has those engagements, and nobody can: the
 * resumed import sends them again, and says how many they were, so that a count of duplicates at
 * Conversion can be checked against it.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs'

export interface Journal {
  /** Wraps `fetch`: each request to Conversion is written down before it leaves and after its answer. */
  watch(fetcher: typeof fetch): typeof fetch
  /** Engagements of requests an earlier run started and did not see refused: delivered, or on their way (read once, at start). */
  readonly unanswered: Sent[]
  /** Forgets it all: the run ended with nothing on its way. */
  clear(): void
}

/** One engagement of a request: its id and its JSON text, as the digest is made of them. */
export interface Sent {
  id: string
  json: string
}

/** The engagements in a batch body, read without trusting it to be one. */
function sentOf(body: unknown): Sent[] {
  if (typeof body !== 'string') return []
  try {
    const batch = (JSON.parse(body) as { batch?: { id?: unknown }[] }).batch ?? []
    // The proxy writes each engagement as JSON.stringify would, so writing it again gives the same text.
    return batch.map((item) => ({ id: String(item?.id), json: JSON.stringify(item) }))
  } catch {
    return []
  }
}

export function openJournal(path: string): Journal {
  const open = new Map<string, Sent[]>()
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [mark, request, ids] = line.split('\t')
      if (mark === '>' && request && ids) open.set(request, JSON.parse(ids) as Sent[])
      else if (mark === '<' && request) open.delete(request)
    }
    rmSync(path)
  }
  const unanswered = [...open.values()].flat()
  let requests = 0
  return {
    unanswered,
    watch: (fetcher) => async (input, init) => {
      const request = String(++requests)
      // The body is the upstream client's string; a Request (from another caller) is read from a copy, so it still carries it.
      const body = typeof init?.body === 'string' ? init.body : input instanceof Request ? await input.clone().text() : undefined
      // Written before the request leaves: a crash after this line leaves it marked as possibly delivered.
      appendFileSync(path, `>\t${request}\t${JSON.stringify(sentOf(body))}\n`)
      let delivered = false
      try {
        const response = await fetcher(input, init)
        delivered = response.ok
        return response
      } finally {
        if (!delivered) appendFileSync(path, `<\t${request}\n`)
      }
    },
    clear: () => rmSync(path, { force: true }),
  }
}
