/**
 * The connection to Redis: node-redis with the coordination scripts, failing fast (no offline
 * queue, a timeout per command) so that a Redis that is down or slow makes the proxy fail closed
 * instead of waiting, reconnecting by itself, and saying so once per change of state.
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
  close(): Promise<void>
}

/** Options of {@link connectCoordination}. */
export interface CoordinationClientOptions {
  /** Such as `redis://user:password@host:6379/0` or `rediss://...` (TLS). Never logged. */
  url: string
  /** How long one command may take before it counts as a failure, in ms. */
  commandTimeoutMs: number
  logger: ProxyLogger
}

/** Longest pause between two attempts to reconnect. */
const MAX_RECONNECT_DELAY_MS = 2_000

export function connectCoordination({ url, commandTimeoutMs, logger }: CoordinationClientOptions): CoordinationClient {
  const client = createClient({
    url,
    scripts: SCRIPTS,
    disableOfflineQueue: true,
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      connectTimeout: Math.max(commandTimeoutMs, 1_000),
      reconnectStrategy: (retries) => Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(retries, 6)),
    },
  })
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
  client.on('ready', () => {
    become(true)
    for (const listener of readyListeners) listener()
  })
  client.on('error', (error: Error) => become(false, error.message))
  client.on('end', () => become(false, 'the connection closed'))
  // Not awaited: the proxy starts whether Redis is up or not, and fails closed until it is.
  client.connect().catch(() => {})

  return {
    async run(name, keys, args) {
      try {
        const reply = await (client as unknown as Record<string, (keys: string[], args: string[]) => Promise<unknown>>)[name]?.(keys, args)
        if (!reachable) become(true)
        return reply
      } catch (error) {
        become(false, (error as Error).message)
        throw error
      }
    },
    get reachable() {
      return reachable
    },
    onReady: (listener) => void readyListeners.push(listener),
    async close() {
      closing = true
      reachable = false
      if (client.isOpen) await client.close().catch(() => client.destroy())
      else client.destroy()
    },
  }
}
