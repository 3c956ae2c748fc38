/**
 * The connection to Redis: node-redis with the coordination scripts, failing fast so that a Redis
 * that is down, slow or stalled makes the proxy fail closed instead of waiting, reconnecting by
 * itself, and saying so once per change of state.
 *
 * node-redis's own timeouts do not see a server that stops answering while its connection stays
 * up (a stalled process, a failover, a connection cut without a reset): its command timeout ends
 * once the command is written, and its connect timeout once TCP is connected. So each command here
 * has a deadline from the call to the answer, and a connection that lets one pass, or that does not
 * finish its handshake in time, is destroyed (which rejects every command still waiting on it) and
 * replaced by a new one.
 */
import { createClient } from '@redis/client'
import type { ProxyLogger } from '../../../proxy/options.js'
import { SCRIPTS } from './scripts.js'

/** What the pacer and the memory need of Redis. */
export interface CoordinationClient {
  /** Runs one coordination script; rejects when Redis is unreachable, slow or refuses. */
  run(script: keyof typeof SCRIPTS, keys: string[], args: string[]): Promise<unknown>
  /** Whether Redis answered the last time it was asked (or connected since). */
  readonly reachable: boolean
  /** Calls `listener` each time the connection is (re)established. */
  onReady(listener: () => void): void
  /** Closes the connection, waiting at most `commandTimeoutMs` for the answers still due. */
  close(): Promise<void>
}

/** Options of {@link connectCoordination}. */
export interface CoordinationClientOptions {
  /** Such as `redis://user:password@host:6379/0` or `rediss://...` (TLS). Never logged. */
  url: string
  /**
   * How long one command may wait for its answer, from the call, before it counts as a failure
   * and its connection is replaced, in ms; also how long a new connection's handshake may take.
   */
  commandTimeoutMs: number
  logger: ProxyLogger
}

/** Longest pause between two attempts to reconnect. */
const MAX_RECONNECT_DELAY_MS = 2_000

type Scripted = Record<string, (keys: string[], args: string[]) => Promise<unknown>>

export function connectCoordination({ url, commandTimeoutMs, logger }: CoordinationClientOptions): CoordinationClient {
  const open = () =>
    createClient({
      url,
      scripts: SCRIPTS,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(commandTimeoutMs, 1_000),
        reconnectStrategy: (retries) => Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(retries, 6)),
      },
    })
  type Client = ReturnType<typeof open>
  let reachable = false
  /** Closing on purpose: the end of the connection is then no news for the operator. */
  let closing = false
  /** Whether the state was said: nothing is logged before the first change. */
  let said: boolean | undefined
  const become = (value: boolean, why?: string) => {
    if (closing) return
    reachable = value
    if (said === value) return
    if (said !== undefined || !value) {
      // The URL may hold a password: the message never quotes it.
      if (value) logger.info('[conversion-engagements] Redis is reachable again: forwarding resumes')
      else logger.error(`[conversion-engagements] Redis is unreachable (${why ?? 'no answer'}): the proxy answers 503 until it is back`)
    }
    said = value
  }
  const readyListeners: (() => void)[] = []
  const noAnswer = `no answer within ${commandTimeoutMs} ms`

  /**
   * The client in use. A replaced connection gets a new client rather than connect() again on the
   * old one: an attempt of the old one still in progress (node-redis retries on its own) would,
   * when it fails, destroy whatever socket that client then holds, the new one included.
   */
  let client: Client
  const connect = () => {
    const fresh = open()
    client = fresh
    const inUse = () => fresh === client && !closing
    let handshake: ReturnType<typeof setTimeout> | undefined
    fresh.on('connect', () => {
      // connect() is ready only once the server answers its handshake (CLIENT SETINFO, and AUTH
      // or SELECT as the URL asks), which has no timeout of its own: against a server that takes
      // the connection but never answers, connect() would wait forever, the client never ready,
      // every command refused at once (the offline queue is off) and the proxy failing closed.
      // So the connection is replaced after the same time a command may take.
      clearTimeout(handshake)
      handshake = setTimeout(() => {
        if (!fresh.isReady) replace(fresh, `${noAnswer} to the handshake`)
      }, commandTimeoutMs)
    })
    fresh.on('ready', () => {
      clearTimeout(handshake)
      // A client replaced or closed while it connected is of no use any more.
      if (!inUse()) return void fresh.destroy()
      become(true)
      for (const listener of readyListeners) listener()
    })
    fresh.on('error', (error: Error) => {
      // An attempt that failed (refused, or its handshake refused) is retried by node-redis with
      // its pauses: only a handshake left unanswered needs the watchdog.
      clearTimeout(handshake)
      if (inUse()) become(false, error.message)
    })
    fresh.on('end', () => {
      clearTimeout(handshake)
      if (inUse()) become(false, 'the connection closed')
    })
    // Not awaited: the proxy starts whether Redis is up or not, and fails closed until it is.
    fresh.connect().catch(() => {})
  }
  /** Destroys a stalled client and, unless it was replaced already or is closing, connects anew. */
  const replace = (stalled: Client, why: string) => {
    const inUse = stalled === client && !closing
    // Said first: destroying it ends the connection, which would say so with a vaguer reason.
    if (inUse) become(false, why)
    stalled.destroy()
    if (inUse) connect()
  }
  connect()

  return {
    async run(name, keys, args) {
      const asked = client
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Error(`Redis gave ${noAnswer}`)
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(late), commandTimeoutMs)
      })
      try {
        const reply = await Promise.race([(asked as unknown as Scripted)[name]?.(keys, args), deadline])
        if (!reachable) become(true)
        return reply
      } catch (error) {
        if (error === late) replace(asked, noAnswer)
        // Commands that a replaced client rejects say nothing of the one in use.
        else if (asked === client) become(false, (error as Error).message)
        throw error
      } finally {
        clearTimeout(timer)
      }
    },
    get reachable() {
      return reachable
    },
    onReady: (listener) => void readyListeners.push(listener),
    async close() {
      closing = true
      reachable = false
      const last = client
      // client.close() waits for the answers still due, which a stalled Redis never gives.
      let timer: ReturnType<typeof setTimeout> | undefined
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, commandTimeoutMs)
      })
      if (last.isOpen) await Promise.race([last.close().catch(() => {}), waited])
      clearTimeout(timer)
      // Rejects what is still waiting. A connection still being made ends when it is made (see
      // 'connect' and 'ready': a client not in use is destroyed).
      last.destroy()
    },
  }
}
