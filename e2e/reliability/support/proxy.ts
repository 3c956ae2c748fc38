/**
 * The proxy as a separate process, started from the built package, so that a scenario can crash
 * it for real (SIGKILL), restart it on the same state file, read everything it prints, and ask
 * how much memory it holds.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { CoalescerStats } from '../../../src/core/coalescer/index.js'
import type { ServeProxyOptions } from '../../../src/adapters/node/index.js'
import type { Capture } from './capture.js'

const ENTRY = fileURLToPath(new URL('./proxy-process.mjs', import.meta.url))
/** How long a process may take to start or to stop before the suite gives up on it. */
const PROCESS_TIMEOUT_MS = 15_000

/** The options a proxy process takes: JSON-serializable, the key excepted (it travels in the environment). */
export type ProxyProcessOptions = Partial<
  Omit<
    ServeProxyOptions,
    'apiKey' | 'logger' | 'fetch' | 'now' | 'random' | 'clientKey' | 'guard' | 'coalescer' | 'memory' | 'pacer' | 'sha256'
  >
>

/** What a proxy process reports of its own use of the machine. */
export interface ProcessUsage {
  /** `process.cpuUsage()`: user and system CPU time since the process started, in µs. */
  cpuMicros: NodeJS.CpuUsage
  /** The largest resident set the process has had, in bytes. */
  peakRssBytes: number
  memory: NodeJS.MemoryUsage
}

let started = 0

export class ProxyProcess {
  readonly name: string
  url = ''
  port = 0
  private exited: Promise<unknown>
  private replies = new Map<number, (message: Record<string, unknown>) => void>()
  private nextId = 1

  private constructor(
    private readonly child: ChildProcess,
    private readonly capture: Capture,
  ) {
    this.name = `proxy#${++started}`
    this.exited = once(child, 'exit')
    child.stdout?.on('data', (chunk: Buffer) => capture.add(`${this.name} stdout`, chunk))
    child.stderr?.on('data', (chunk: Buffer) => capture.add(`${this.name} stderr`, chunk))
    child.on('message', (message: Record<string, unknown>) => {
      const reply = this.replies.get(message.id as number)
      if (reply) {
        this.replies.delete(message.id as number)
        reply(message)
      }
    })
  }

  /**
   * Starts a proxy process and resolves once it listens. `nodeArgs` go to Node before the entry,
   * such as `--max-old-space-size=256` to give the process a smaller heap.
   */
  static async start(
    apiKey: string,
    options: ProxyProcessOptions,
    capture: Capture,
    nodeArgs: readonly string[] = [],
  ): Promise<ProxyProcess> {
    const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, ENTRY], {
      env: { ...process.env, CONVERSION_API_KEY: apiKey, RELIABILITY_PROXY_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    const proxy = new ProxyProcess(child, capture)
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${proxy.name} did not start within ${PROCESS_TIMEOUT_MS} ms`)), PROCESS_TIMEOUT_MS)
      child.on('message', (message: { type?: string; url?: string; port?: number }) => {
        if (message.type !== 'listening') return
        clearTimeout(timer)
        proxy.url = message.url as string
        proxy.port = message.port as number
        resolve()
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${proxy.name} exited with ${code} before listening:\n${capture.text(`${proxy.name} stderr`)}`))
      })
    })
    try {
      await listening
    } catch (error) {
      await proxy.kill()
      throw error
    }
    return proxy
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Heap and RSS after a full garbage collection in the proxy process. */
  async memory(): Promise<NodeJS.MemoryUsage> {
    return (await this.ask('memory')).memory as NodeJS.MemoryUsage
  }

  /** CPU time and memory as they are now (no collection first), and the peak RSS since the process started. */
  async usage(): Promise<ProcessUsage> {
    return (await this.ask('usage')).usage as ProcessUsage
  }

  async stats(): Promise<CoalescerStats> {
    return (await this.ask('stats')).stats as CoalescerStats
  }

  /** The crash: SIGKILL, no chance to close or flush anything. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL')
    await this.exited
  }

  /** A graceful stop (SIGTERM), then SIGKILL if it takes too long. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), PROCESS_TIMEOUT_MS)
    await this.exited
    clearTimeout(timer)
  }

  private ask(type: string): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id)
        reject(new Error(`${this.name} did not answer ${type}`))
      }, PROCESS_TIMEOUT_MS)
      this.replies.set(id, (message) => {
        clearTimeout(timer)
        resolve(message)
      })
      // A process that died (out of memory, say) answers nothing: say so at once, with why.
      void this.exited.then(() => {
        if (!this.replies.delete(id)) return
        clearTimeout(timer)
        reject(new Error(`${this.name} exited before answering ${type}: ${this.capture.text(`${this.name} stderr`).slice(-500)}`))
      })
      if (this.running) this.child.send({ type, id })
    })
  }
}
