/**
 * The processes of `scripts/load-fleet.mjs`: a redis-server and proxy replicas, each run from the
 * build (`dist/cli.js`) as operators run it, on loopback ports chosen once, so that a replica or
 * Redis restarted after a kill comes back where its clients look for it. Every process is
 * stopped by its pid.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'

/** A free loopback port, as the system hands one out. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Stops `child` with `signal` and waits for it to exit. */
async function kill(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  process.kill(child.pid, signal)
  await exited
}

/** A redis-server without persistence: restarted, it is empty, as after a crash. */
export async function startRedis() {
  const port = await freePort()
  let child
  /** Whether Redis answers PING (RESP inline command) on the port. */
  const answers = () =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
      socket.setTimeout(1_000, () => socket.destroy())
      socket.once('data', (chunk) => {
        socket.destroy()
        resolve(String(chunk).startsWith('+PONG'))
      })
      socket.once('error', () => resolve(false))
      socket.once('close', () => resolve(false))
    })
  const start = async () => {
    child = spawn(
      process.env.REDIS_SERVER ?? 'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      {
        stdio: 'ignore',
      },
    )
    child.once('error', () => {})
    await until(answers, 10_000, 'redis-server answering')
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    /** SIGKILL: nothing is saved. */
    stop: () => kill(child, 'SIGKILL'),
  }
}

/**
 * One proxy replica: `node dist/cli.js proxy` with `env`, on a port of its own. Its output is
 * kept (the caller searches it for the key).
 */
export async function startReplica(root, env, output) {
  const port = await freePort()
  let child
  const origin = `http://127.0.0.1:${port}`
  const start = async () => {
    child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'proxy'], {
      env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.on('data', (chunk) => output.push(String(chunk)))
    child.stderr.on('data', (chunk) => output.push(String(chunk)))
    await until(async () => (await fetch(`${origin}/readyz`)).status === 200, 15_000, `replica on ${port} ready`)
  }
  await start()
  return {
    url: `${origin}/api/relay`,
    start,
    /** SIGKILL: a crash; what it held is not given back. */
    crash: () => kill(child, 'SIGKILL'),
    /** SIGTERM: the graceful stop; resolves with the exit code. */
    async stop() {
      if (!child || child.exitCode !== null) return child?.exitCode ?? null
      const exited = once(child, 'exit')
      process.kill(child.pid, 'SIGTERM')
      const [code] = await exited
      return code
    },
    /** SIGKILL whatever is left (at the end, whatever happened). */
    kill: () => kill(child, 'SIGKILL'),
  }
}
