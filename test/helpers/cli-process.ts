/**
 * The CLI as a child process, for tests: bundled from the sources with esbuild first (as the
 * package build does with rollup), run with an environment of the test's choosing, stopped by its
 * pid when the test is over.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
export { until } from './until.js'

const ROOT = resolve(import.meta.dirname, '../..')
/** The bundled CLI, once `buildCli` has run. */
let cliFile = ''
const children: ChildProcess[] = []

/**
 * Bundles a TypeScript entry of this repository for Node, as one ESM file inside node_modules (so
 * its dependencies resolve as the package's do); returns the file's path.
 */
export async function bundleForNode(entry: string, name: string): Promise<string> {
  const outfile = join(ROOT, 'node_modules/.cache/conversion-engagements-test', `${name}.mjs`)
  await build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  })
  return outfile
}

/** Bundles the CLI from the sources (call it in `beforeAll`). */
export async function buildCli(): Promise<void> {
  cliFile = await bundleForNode('src/adapters/node/cli/index.ts', 'cli')
}

/** Stops every CLI a test left running, by its pid (call it in `afterEach`). */
export function stopClis(): void {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL')
}

/** A running CLI: its output so far, its exit, and a wait for a line of output. */
export function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [cliFile, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const output = { stdout: '', stderr: '' }
  child.stdout?.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  return {
    child,
    output,
    exited,
    /** Resolves with the first match of `pattern` in stdout, within `timeoutMs`. */
    async printed(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = pattern.exec(output.stdout)
        if (found) return found
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`not printed: ${pattern}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}
