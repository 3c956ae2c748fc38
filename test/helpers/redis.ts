/**
 * A real redis-server for tests: started on a free loopback port with persistence off, stopped by
 * its process id, and restartable on the same port (empty, as a Redis without persistence
 * restarts). Debian's `redis-server` (`apt-get install redis-server`), or `REDIS_SERVER` if set.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { freePort } from './ports.js'

const BINARY = process.env.REDIS_SERVER ?? 'redis-server'
const START_TIMEOUT_MS = 10_000

/** Resolves once something accepts connections on the port, or rejects after the timeout. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface RedisServer {
  url: string
  port: number
  /** Stops it (SIGKILL: nothing is saved, as in a crash). */
  stop(): Promise<void>
  /** Starts it again on the same port, empty. */
  start(): Promise<void>
  /**
   * Freezes it (SIGSTOP): connections stay open and commands are taken in, but nothing is
   * answered, as with a stalled server or a connection cut without a word.
   */
  pause(): void
  /** Lets a paused server run again (SIGCONT): it answers what it took in meanwhile. */
  resume(): void
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(BINARY, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: 'ignore',
    })
    child.once('error', () => {})
    await listening(port, START_TIMEOUT_MS)
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null) return
    const exited = once(running, 'exit')
    // SIGKILL ends a paused process too.
    running.kill('SIGKILL')
    await exited
  }
  const signal = (name: NodeJS.Signals) => () => void child?.kill(name)
  await start()
  return { url: `redis://127.0.0.1:${port}`, port, stop, start, pause: signal('SIGSTOP'), resume: signal('SIGCONT') }
}
