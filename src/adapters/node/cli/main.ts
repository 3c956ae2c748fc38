/**
 * The command line: `conversion-engagements <command>`. Each command lives in a file of its own
 * and is listed here.
 */
import { EXIT, type CliContext, type Command } from './context.js'
import { importCommand } from './import.js'
import { proxyCommand } from './proxy.js'

const COMMANDS: Record<string, Command> = {
  proxy: proxyCommand,
  import: importCommand,
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  return [
    'Usage: conversion-engagements <command> [--help]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'conversion-engagements <command> --help tells more.',
  ].join('\n')
}

/** Runs the command line `args` (without node and the script); resolves with the exit code. */
export async function runCli(args: string[], context: CliContext): Promise<number> {
  const [name, ...rest] = args
  if (name === undefined) {
    context.warn(overview())
    return EXIT.usage
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    context.print(overview())
    return EXIT.ok
  }
  const command = COMMANDS[name]
  if (!command) {
    context.warn(`conversion-engagements: unknown command ${JSON.stringify(name.slice(0, 40))}\n\n${overview()}`)
    return EXIT.usage
  }
  return command.run(rest, context)
}
