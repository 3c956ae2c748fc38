/**
 * The bulk import at scale: the BUILT command (`dist/cli.js import`) as operators run it, a file of
 * `rows` engagements (one in 100 refused by the contract) into the emulator over loopback. What it
 * measures: the rate of accepted engagements against Conversion's ceiling of 2,000 per second, and
 * the import process's peak resident memory (read from /proc while it runs), which must stay flat
 * whatever the file's size.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CEILINGS, verdict } from './ceilings.mjs'
import { root } from './size.mjs'

const API_KEY = 'sk_test_benchmark_import'
/** The import must end within this; a bounded run, whatever happens. */
const RUN_LIMIT_MS = 240_000
const SAMPLE_MS = 100

/** A file of `rows` engagements, meetings with a little data; every 100th row without a contact. */
function writeRows(path, rows) {
  const lines = new Array(rows)
  for (let n = 0; n < rows; n++) {
    const row = {
      id: `import-${n}`,
      contactEmail: `person${n % 997}@example.com`,
      type: 'MEETING',
      name: `Meeting ${n}`,
      createdAt: '2024-05-01T10:00:00Z',
      data: { minutes: 30 + (n % 60), source: 'calendar' },
    }
    if (n % 100 === 99) delete row.contactEmail
    lines[n] = JSON.stringify(row)
  }
  writeFileSync(path, `${lines.join('\n')}\n`)
}

/** The resident memory of a process, in bytes, from /proc (Linux); undefined elsewhere or once it exited. */
function residentBytes(pid) {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

/**
 * Imports `rows` rows through the built CLI into a fresh emulator; resolves with the rate, the
 * share of 2,000/s, the peak resident memory and the exit code.
 */
export async function measureImport({ rows }) {
  const { startEmulator } = await import(join(root, 'dist', 'emulator.js'))
  const emulator = await startEmulator({ apiKey: API_KEY })
  const folder = mkdtempSync(join(tmpdir(), 'bench-import-'))
  const file = join(folder, 'meetings.jsonl')
  try {
    writeRows(file, rows)
    const started = performance.now()
    const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'import', file, '--no-progress'], {
      env: { PATH: process.env.PATH ?? '', CONVERSION_API_KEY: API_KEY, CONVERSION_API_URL: emulator.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    // The resident memory over time: flat means the last part of the file costs what the first did.
    const samples = []
    const sampler = setInterval(() => {
      const bytes = residentBytes(child.pid)
      if (bytes !== undefined) samples.push({ at: performance.now() - started, bytes })
    }, SAMPLE_MS)
    const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS)
    const code = await new Promise((resolve) => child.once('exit', (exitCode) => resolve(exitCode)))
    clearInterval(sampler)
    clearTimeout(limit)
    const seconds = (performance.now() - started) / 1000
    const accepted = emulator.ids().length
    const peakOf = (list) => list.reduce((most, sample) => Math.max(most, sample.bytes), 0)
    return {
      rows,
      accepted,
      rejected: rows - accepted,
      duplicates: emulator.duplicates().length,
      seconds,
      rate: accepted / seconds,
      share: accepted / seconds / 2_000,
      peakRssBytes: peakOf(samples),
      firstQuarterPeakRssBytes: peakOf(samples.filter((sample) => sample.at <= (seconds * 1000) / 4)),
      exitCode: code,
      summary: output.trim().split('\n').pop() ?? '',
    }
  } finally {
    await emulator.close()
    rmSync(folder, { recursive: true, force: true })
  }
}

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MB`

/** The import's rows for the benchmark's table: its rate against the ceiling, its memory against its own start. */
export function importRows(measured) {
  const { rows, accepted, rejected, duplicates, seconds, share, peakRssBytes, firstQuarterPeakRssBytes, exitCode } = measured
  const growth = peakRssBytes / firstQuarterPeakRssBytes
  const figure = (name, value, text, ceiling, ceilingText, direction, extra = {}) => ({
    figure: name,
    median: text,
    ceiling: ceilingText,
    ratio: direction === 'zero' ? undefined : value / ceiling,
    status: verdict(value, ceiling, direction),
    ...extra,
  })
  return [
    figure(
      `import, ${rows.toLocaleString('en-US')} rows: accepted/s`,
      share * CEILINGS.upstreamPerSecond,
      `${Math.round(measured.rate).toLocaleString('en-US')}/s`,
      CEILINGS.upstreamPerSecond * CEILINGS.importShare,
      `>= ${CEILINGS.importShare.toFixed(2)} of 2,000/s`,
      'min',
      {
        p99: `${share.toFixed(3)} of 2,000/s in ${seconds.toFixed(1)} s`,
        note:
          `Import: the built command (node dist/cli.js import FILE --no-progress) as an operator runs it, a JSON Lines file of ${rows.toLocaleString('en-US')} meetings (one row in 100 without a contact, refused by the contract) into the emulator over loopback; ` +
          `${accepted.toLocaleString('en-US')} accepted, ${rejected.toLocaleString('en-US')} rejected rows in the side file, exit code ${exitCode} (1: not every row accepted). ` +
          "Memory: the import process's resident set read from /proc every 100 ms; flat = the peak of the whole run against the peak of its first quarter.",
      },
    ),
    figure(
      '  import: peak RSS, whole run vs first quarter',
      growth,
      `${mb(peakRssBytes)} vs ${mb(firstQuarterPeakRssBytes)}`,
      CEILINGS.importMemoryGrowth,
      `<= ${CEILINGS.importMemoryGrowth.toFixed(2)}x`,
      'max',
    ),
    figure('  import: engagements Conversion took twice', duplicates, String(duplicates), 0, '0', 'zero'),
  ]
}
