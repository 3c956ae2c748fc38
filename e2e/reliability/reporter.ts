/**
 * Prints what the reliability suite proved: one row per scenario (tracked, delivered,
 * duplicated, rejected with a reason, lost, verdict, counted at the emulator), the key check over
 * everything captured, and the time it took. Also writes it to `summary.md` and `summary.json` in
 * the output folder. A scenario whose test failed is a FAIL whatever its row says.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FullConfig, FullResult, Reporter, Suite, TestCase, TestResult } from '@playwright/test/reporter'
import type { Row } from './support/ledger.js'

interface KeyCheck {
  bytes: number
  leaks: number
}

const COLUMNS: [keyof Row, string][] = [
  ['scenario', 'scenario'],
  ['tracked', 'tracked'],
  ['delivered', 'delivered'],
  ['duplicated', 'duplicated'],
  ['rejected', 'rejected (reason)'],
  ['lost', 'lost'],
  ['verdict', 'verdict'],
]

export default class ReliabilityReporter implements Reporter {
  private rows: (Row & { seconds: number; file: string })[] = []
  private keyChecks: KeyCheck[] = []
  private outputDir = 'test-results/reliability'
  private startedAt = Date.now()

  onBegin(config: FullConfig, _suite: Suite): void {
    this.outputDir = config.projects[0]?.outputDir ?? this.outputDir
    this.startedAt = Date.now()
  }

  onTestEnd(test: TestCase, result: TestResult): void {
    const read = (name: string) =>
      result.attachments
        .filter((attachment) => attachment.name === name && attachment.body)
        .map((attachment) => JSON.parse(String(attachment.body)))
    const rows = read('reliability-row') as Row[]
    const file = test.location.file.split('/').pop() ?? ''
    for (const row of rows.length > 0
      ? rows
      : [{ scenario: test.title, tracked: 0, delivered: 0, duplicated: 0, rejected: 0, lost: 0, verdict: 'FAIL', note: 'no row' }]) {
      const failed = result.status !== 'passed' && result.status !== 'skipped'
      this.rows.push({ ...row, verdict: failed ? 'FAIL' : row.verdict, seconds: result.duration / 1000, file })
    }
    this.keyChecks.push(...(read('reliability-key-check') as KeyCheck[]))
  }

  async onEnd(result: FullResult): Promise<{ status?: FullResult['status'] } | undefined> {
    if (this.rows.length === 0) return undefined
    const cells = this.rows.map((row) => COLUMNS.map(([key]) => String(row[key] ?? '')))
    const widths = COLUMNS.map(([, title], column) => Math.max(title.length, ...cells.map((line) => (line[column] as string).length)))
    const line = (values: string[]) =>
      `| ${values.map((value, column) => (column === 0 || column === values.length - 1 ? value.padEnd(widths[column] as number) : value.padStart(widths[column] as number))).join(' | ')} |`
    const table = [
      line(COLUMNS.map(([, title]) => title)),
      `|${widths.map((width, column) => (column === 0 || column === widths.length - 1 ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
      ...cells.map(line),
    ]
    const notes = this.rows.filter((row) => row.note).map((row) => `- ${row.scenario}: ${row.note}`)
    const bytes = this.keyChecks.reduce((sum, check) => sum + check.bytes, 0)
    const leaks = this.keyChecks.reduce((sum, check) => sum + check.leaks, 0)
    const failed = this.rows.filter((row) => row.verdict === 'FAIL').length
    const minutes = ((Date.now() - this.startedAt) / 60_000).toFixed(1)
    const text = [
      '',
      'Reliability: counted at the emulator (Conversion)',
      '',
      ...table,
      '',
      ...(notes.length > 0 ? ['Notes:', ...notes, ''] : []),
      `API key: searched ${(bytes / 1_000).toFixed(0)} kB captured in ${this.keyChecks.length} scenarios (proxy stdout/stderr, every answer on the browser's and the attackers' connections, browser console and page errors): ${leaks === 0 ? 'never found' : `FOUND ${leaks} TIMES`}.`,
      `${this.rows.length} scenarios, ${failed} failed, in ${minutes} min (${result.status}).`,
      '',
    ].join('\n')
    console.log(text)
    mkdirSync(this.outputDir, { recursive: true })
    writeFileSync(join(this.outputDir, 'summary.md'), text)
    writeFileSync(
      join(this.outputDir, 'summary.json'),
      `${JSON.stringify({ rows: this.rows, keyCheck: { bytes, leaks }, status: result.status }, null, 2)}\n`,
    )
    return leaks > 0 || failed > 0 ? { status: 'failed' } : undefined
  }

  printsToStdio(): boolean {
    return true
  }
}
