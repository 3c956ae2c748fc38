/**
 * `conversion-engagements import <file>`: backfills engagements from a JSON Lines or CSV file
 * through the same client, coordination and limit as the proxy, with a progress bar, a side file
 * of rejected rows, and a checkpoint, so the same command continues after Ctrl-C or a crash.
 */
import { parseArgs } from 'node:util'
import { SingleBar } from 'cli-progress'
import { LIMITS } from '../../../contract.js'
import { runImport, type ImportProgress, type ImportSummary } from '../import/run.js'
import { validateFile } from '../import/dry-run.js'
import type { Format } from '../import/rows.js'
import { EXIT, type CliContext, type Command } from './context.js'
import { numberVariable, urlVariable, valueOf, type Environment } from './environment.js'

const USAGE = 'Usage: conversion-engagements import <file> [--format jsonl|csv] [--dry-run] [--no-progress] [--help]'
/** The exit code of an import stopped by a signal: 128 + its number, as shells report it. */
const interrupted = (signal: string | undefined): number => (signal === 'SIGTERM' ? 143 : 130)

const HELP = [
  USAGE,
  '',
  'Sends the engagements of a JSON Lines file (one engagement per line) or a CSV file (a header row',
  'naming the fields; data as a JSON object in its column) to Conversion, at most 10 requests of 200',
  'per second, shared with your proxies when REDIS_URL is set. Rows without an id get one derived',
  'from the row, and rows without a createdAt the time the import first started, so that a resumed',
  'or repeated import is answered as duplicates. Beside the file it keeps <file>.progress.json (where',
  'it stands: run the same command to continue), <file>.delivered.log and <file>.rejected.jsonl (each',
  'rejected row with its reason). Exit code 0 only when every row was accepted or a duplicate; 1 also',
  'when Conversion stopped taking engagements (a refused key, say): nothing after that row is recorded',
  'as sent, so the same command continues from it. Ctrl-C (or SIGTERM) stops after settling what was',
  'sent; a second one gives that up at once (it is sent again next time); exit code 130 (143).',
  '',
  'Environment:',
  '  CONVERSION_API_KEY       your Conversion API key (required; secret: never printed)',
  "  CONVERSION_API_URL       Conversion's API base [https://pub-api.conversion.ai/api]",
  '  REDIS_URL                redis:// or rediss://: share the limit and the memory with a proxy fleet (secret)',
  `  MAX_REQUESTS_PER_SECOND  upstream request starts in any sliding second, 1 to ${LIMITS.requestsPerSecond} [${LIMITS.requestsPerSecond}]`,
  '',
  'Options:',
  "  --format jsonl|csv  the file's format [from its name: .csv is CSV, anything else JSON Lines]",
  '  --dry-run           checks every row and reports the errors, sends nothing',
  '  --no-progress       no progress bar (it is drawn only on a terminal anyway)',
].join('\n')

interface Arguments {
  file: string
  format: Format | undefined
  dryRun: boolean
  progress: boolean
}

function argumentsOf(args: string[]): Arguments | 'help' {
  const { values, positionals } = parseArgs({
    args,
    options: {
      help: { type: 'boolean', short: 'h' },
      format: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'no-progress': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  })
  if (values.help) return 'help'
  if (positionals.length !== 1) throw new TypeError('give exactly one file to import')
  if (values.format !== undefined && values.format !== 'jsonl' && values.format !== 'csv')
    throw new TypeError('--format must be jsonl or csv')
  return { file: positionals[0] as string, format: values.format, dryRun: !!values['dry-run'], progress: !values['no-progress'] }
}

function summaryLine(summary: ImportSummary): string {
  const { counts, total } = summary
  const seconds = summary.elapsedMs / 1000
  const rate = seconds > 0 ? Math.round(summary.sentThisRun / seconds) : 0
  const parts = [
    `${summary.stopped ? 'stopped' : 'imported'}: ${summary.settled} of ${total} rows`,
    `${counts.accepted} accepted, ${counts.duplicate} duplicate, ${counts.rejected} rejected, ${counts.busy} busy`,
    `${rate}/s over ${seconds.toFixed(1)} s`,
  ]
  if (counts.rejected > 0) parts.push(`rejected rows: ${summary.rejectedFile}`)
  if (summary.possiblyDoubled > 0)
    parts.push(
      `${summary.possiblyDoubled} sent again after an earlier run was killed with them on their way (possibly twice at Conversion)`,
    )
  if (summary.unknownRequests > 0)
    parts.push(
      `${summary.unknownRequests} request(s) of an earlier run cut short in its journal by the kill (up to ${LIMITS.batchSize} engagements each, possibly twice at Conversion)`,
    )
  if (summary.halted !== undefined) parts.push(`sending stopped after row ${summary.settled}: ${summary.halted}`)
  if (summary.stopped) parts.push('run the same command to continue')
  return parts.join('; ')
}

async function run(args: string[], context: CliContext): Promise<number> {
  let parsed: Arguments | 'help'
  try {
    parsed = argumentsOf(args)
  } catch (error) {
    context.warn(`conversion-engagements import: ${(error as Error).message}\n${USAGE}`)
    return EXIT.usage
  }
  if (parsed === 'help') {
    context.print(HELP)
    return EXIT.ok
  }
  const { file, format, dryRun } = parsed
  if (dryRun) return validateFile(file, format, context)

  let settings: ImportSettings
  try {
    settings = readImportSettings(context.env)
  } catch (error) {
    context.warn(
      `${String((error as Error).message).replace(/^conversion-engagements proxy: /, '')}\nSee: conversion-engagements import --help`,
    )
    return EXIT.usage
  }

  const stop = new AbortController()
  const abandon = new AbortController()
  let stoppedBy: string | undefined
  const unlisten = context.onStopSignal((signal) => {
    if (stop.signal.aborted) {
      if (abandon.signal.aborted) return
      context.warn('stopping now: what was not settled is sent again next time')
      abandon.abort()
      return
    }
    stoppedBy = signal
    context.warn('stopping: settling what was sent (again to stop now); run the same command to continue')
    stop.abort()
  })
  const bar =
    parsed.progress && context.isTerminal
      ? new SingleBar({
          stream: process.stderr,
          format:
            '{bar} {percentage}% | {value}/{total} rows | ETA {eta_formatted} | {accepted} accepted, {duplicate} duplicate, {rejected} rejected',
        })
      : undefined
  const show = (progress: ImportProgress) => {
    if (!bar) return
    if (bar.getTotal() !== progress.total) bar.start(progress.total, progress.settled, progress.counts)
    bar.update(progress.settled, progress.counts)
  }
  try {
    const summary = await runImport({
      file,
      ...(format ? { format } : {}),
      apiKey: settings.apiKey,
      ...(settings.upstreamUrl ? { upstreamUrl: settings.upstreamUrl } : {}),
      ...(settings.redisUrl ? { redisUrl: settings.redisUrl } : {}),
      ...(settings.maxRequestsPerSecond ? { maxRequestsPerSecond: settings.maxRequestsPerSecond } : {}),
      signal: stop.signal,
      abandon: abandon.signal,
      onProgress: show,
      logger: { info: context.warn, warn: context.warn, error: context.warn },
    })
    bar?.stop()
    context.print(summaryLine(summary))
    if (summary.stopped) return summary.halted === undefined ? interrupted(stoppedBy) : EXIT.failed
    return summary.counts.rejected + summary.counts.busy === 0 ? EXIT.ok : EXIT.failed
  } catch (error) {
    bar?.stop()
    context.warn(`conversion-engagements import: ${(error as Error).message}`)
    return EXIT.failed
  } finally {
    unlisten()
  }
}

export const importCommand: Command = { summary: 'imports engagements from a JSON Lines or CSV file, resumably', run }

/** What the import reads of its environment (as the proxy names it); throws naming the variable. */
function readImportSettings(env: Environment) {
  const apiKey = valueOf(env, 'CONVERSION_API_KEY')
  if (apiKey === undefined) throw new TypeError('`CONVERSION_API_KEY` must be set to your Conversion API key')
  const upstreamUrl = urlVariable(env, 'CONVERSION_API_URL', /^https?:$/, 'an http:// or https:// URL', false)
  const redisUrl = urlVariable(env, 'REDIS_URL', /^rediss?:$/, 'a redis:// or rediss:// URL', true)
  const maxRequestsPerSecond = numberVariable(env, 'MAX_REQUESTS_PER_SECOND', {
    min: 1,
    max: LIMITS.requestsPerSecond,
    integer: true,
  })
  return { apiKey, upstreamUrl, redisUrl, maxRequestsPerSecond }
}

type ImportSettings = ReturnType<typeof readImportSettings>
