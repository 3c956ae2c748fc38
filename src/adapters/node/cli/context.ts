/** What a command of the CLI needs of its process, injected so that each command is a plain function. */
import type { Environment } from './environment.js'

export interface CliContext {
  env: Environment
  /** A line for the operator (stdout). */
  print(line: string): void
  /** A line about trouble (stderr). */
  warn(line: string): void
  /** Whether stderr is a terminal, where a progress bar can be drawn. */
  isTerminal?: boolean
  /** Calls `listener` on SIGTERM and SIGINT; returns what stops listening. */
  onStopSignal(listener: (signal: string) => void): () => void
}

/** Exit codes: 0 done, 1 failed while running, 2 wrong usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** One subcommand: a line for the overview, and what runs it; resolves with the exit code. */
export interface Command {
  summary: string
  run(args: string[], context: CliContext): Promise<number>
}
