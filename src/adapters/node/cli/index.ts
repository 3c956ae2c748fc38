#!/usr/bin/env node
/** The `conversion-engagements` executable: the CLI on this process's arguments, environment, output and signals. */
import { runCli } from './main.js'

void runCli(process.argv.slice(2), {
  env: process.env,
  print: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`${line}\n`),
  isTerminal: process.stderr.isTTY === true,
  onStopSignal(listener) {
    process.on('SIGTERM', listener)
    process.on('SIGINT', listener)
    return () => {
      process.off('SIGTERM', listener)
      process.off('SIGINT', listener)
    }
  },
}).then((code) => {
  process.exitCode = code
  // Everything was closed; should a handle still hold the loop, it must not keep a stopped process alive.
  setTimeout(() => process.exit(code), 2_000).unref()
})
