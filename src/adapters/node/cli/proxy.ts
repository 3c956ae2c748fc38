/**
 * `conversion-engagements proxy`: serves the proxy configured by environment variables, says
 * where it listens, and stops gracefully on SIGTERM or SIGINT (a second signal stops at once, exit code 1).
 */
import { parseArgs } from 'node:util'
import { serveProxy, type RunningProxy } from '../index.js'
import { LIVENESS_PATH, READINESS_PATH } from '../health.js'
import { EXIT, type CliContext, type Command } from './context.js'
import { readEnvironment, VARIABLES } from './environment.js'

const USAGE = 'Usage: conversion-engagements proxy [--help]'

function help(): string {
  const width = Math.max(...VARIABLES.map((variable) => variable.name.length))
  const rows = VARIABLES.map(({ name, fallback, meaning }) => `  ${name.padEnd(width)}  ${meaning} [${fallback}]`)
  return [
    USAGE,
    '',
    'Serves the proxy that holds your Conversion API key, configured by environment variables',
    "(named as the Cloudflare Worker's bindings; defaults in brackets):",
    '',
    ...rows,
    '',
    `On the proxy's port: GET ${LIVENESS_PATH} (200 while it serves), GET ${READINESS_PATH} (200 while it can forward).`,
    'SIGTERM or SIGINT: turns new requests away, answers those in flight, gives back what was not sent, exits 0.',
    'A second SIGTERM or SIGINT: stops at once (requests still in flight are cut off) and exits 1.',
  ].join('\n')
}

async function run(args: string[], context: CliContext): Promise<number> {
  let helpAsked: boolean | undefined
  try {
    helpAsked = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values.help
  } catch (error) {
    context.warn(`conversion-engagements proxy: ${(error as Error).message}\n${USAGE}`)
    return EXIT.usage
  }
  if (helpAsked) {
    context.print(help())
    return EXIT.ok
  }
  let options: ReturnType<typeof readEnvironment>
  try {
    options = readEnvironment(context.env)
  } catch (error) {
    context.warn(`${(error as Error).message}\nSee: conversion-engagements proxy --help`)
    return EXIT.usage
  }
  let server: RunningProxy
  try {
    server = await serveProxy(options)
  } catch (error) {
    // Messages of the proxy's option checks never hold a secret's value; others are the system's (a port in use).
    context.warn(`conversion-engagements proxy: could not start: ${(error as Error).message}`)
    return error instanceof TypeError ? EXIT.usage : EXIT.failed
  }
  context.print(`conversion-engagements proxy listening on ${server.url}`)
  context.print(`  health: ${server.origin}${LIVENESS_PATH} ${server.origin}${READINESS_PATH}`)
  if (server.metricsUrl) context.print(`  metrics: ${server.metricsUrl}`)
  context.print(
    options.redisUrl === undefined
      ? '  pacing: alone in this process (run one process per API key, or set REDIS_URL to share the limit with other replicas)'
      : '  pacing: shared with every replica of this API key through Redis',
  )
  return stopped(server, context)
}

/**
 * Resolves with the exit code once a signal has stopped the server: 0 after a graceful stop, 1
 * when a second signal stopped it at once (or stopping failed).
 */
function stopped(server: RunningProxy, context: CliContext): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false
    let atOnce = false
    const stopListening = context.onStopSignal((signal) => {
      if (stopping) {
        // Decided before anything settles: the graceful stop, cut short, resolves too.
        atOnce = true
        stopListening()
        context.warn(`conversion-engagements proxy: ${signal} again: stopping at once`)
        void server.close().finally(() => resolve(EXIT.failed))
        return
      }
      stopping = true
      context.print(`conversion-engagements proxy: ${signal}: stopping (answering the requests in flight first)`)
      server.shutdown().then(
        () => {
          stopListening()
          if (atOnce) return resolve(EXIT.failed)
          context.print('conversion-engagements proxy: stopped')
          resolve(EXIT.ok)
        },
        (error: unknown) => {
          stopListening()
          context.warn(`conversion-engagements proxy: stopping failed: ${(error as Error).message}`)
          resolve(EXIT.failed)
        },
      )
    })
  })
}

export const proxyCommand: Command = { summary: 'serve the proxy, configured by environment variables', run }
