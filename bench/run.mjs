#!/usr/bin/env node
/**
 * The benchmark: every performance claim of this package, measured in one run on the BUILT
 * artifacts in `dist/`, each figure held against its ceiling.
 *
 *   node bench/run.mjs                 the full run (a few minutes)
 *   node bench/run.mjs --quick         a shorter run with smaller counts (about a minute and a half)
 *   node bench/run.mjs --json FILE     where to write the figures (default bench/results.json)
 *   node bench/run.mjs --only a,b      some sections: size, main, throughput, proxy, outbox, import
 *
 * Sections: sizes; the tracker's main-thread cost in Chromium; throughput from pages through the
 * Node proxy to the strict emulator against Conversion's ceiling (10 requests/s x 200); the
 * proxy's own cost under a load generator in a separate process; the outbox at 100,000 queued;
 * the bulk import of 100,000 rows through the built CLI.
 * The machine may be shared and noisy: figures are medians of repeated runs, and the
 * environment (versions, CPUs, load) is printed with them. Everything listens on loopback only,
 * and every server, browser and child process started here is stopped here.
 *
 * Run `npm run build` first. Needs Chromium: CHROMIUM_PATH, else Debian's, else Playwright's own.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { launchChromium } from './lib/browser.mjs'
import { importRows, measureImport } from './lib/import.mjs'
import { measureMainThread } from './lib/main-thread.mjs'
import { measureOutboxScale } from './lib/outbox-scale.mjs'
import { killLoadGenerators, measureProxyCostInChild } from './lib/proxy-cost.mjs'
import { mainThreadRows, outboxRows, proxyRows, ratioText, sizeRows, throughputRows } from './lib/report.mjs'
import { measureSizes, root } from './lib/size.mjs'
import { measureThroughput } from './lib/throughput.mjs'

const SECTIONS = ['size', 'main', 'throughput', 'proxy', 'outbox', 'import']
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string', default: join(root, 'bench', 'results.json') },
    only: { type: 'string', default: SECTIONS.join(',') },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (flags.help) {
  console.log(`usage: node bench/run.mjs [--quick] [--json FILE] [--only ${SECTIONS.join(',')}]`)
  process.exit(0)
}
const only = new Set(flags.only.split(',').map((name) => name.trim()))
for (const name of only) {
  if (!SECTIONS.includes(name)) {
    console.error(`bench: unknown section "${name}"; sections are ${SECTIONS.join(', ')}`)
    process.exit(2)
  }
}

/** How much each section does; --quick trades precision for time. */
const PLAN = flags.quick
  ? {
      main: { rounds: 1, burstRounds: 2, calls: 10_000, durabilitySamples: 100 },
      throughput: [
        { pages: 1, perPage: 10_000 },
        { pages: 3, perPage: 4_000 },
      ],
      proxy: { rounds: 2, durationMs: 800, pacedMs: 3_000, concurrency: 16 },
      outbox: { backlog: 20_000, small: 1_000, samples: 7 },
      import: { rows: 20_000 },
      limitMs: 7 * 60_000,
    }
  : {
      main: { rounds: 3, burstRounds: 3, calls: 10_000, durabilitySamples: 200 },
      throughput: [
        { pages: 1, perPage: 20_000 },
        { pages: 3, perPage: 20_000 },
      ],
      proxy: { rounds: 4, durationMs: 1_000, pacedMs: 5_000, concurrency: 16 },
      outbox: { backlog: 100_000, small: 1_000, samples: 15 },
      import: { rows: 100_000 },
      limitMs: 14 * 60_000,
    }

const missing = [
  'dist/index.js',
  'dist/node.js',
  'dist/cli.js',
  'dist/emulator.js',
  'dist/proxy.js',
  'dist/conversion-engagements.min.js',
].filter((file) => !existsSync(join(root, file)))
if (missing.length > 0) {
  console.error(`bench: ${missing.join(', ')} missing: run \`npm run build\` first`)
  process.exit(1)
}

const log = (line) => console.error(line)
let browser
let chromiumVersion
/** Stops what is still running: the browser and any load generator. */
async function cleanUp() {
  killLoadGenerators()
  await browser?.close().catch(() => {})
  browser = undefined
}
// Bounded: a run that overstays its limit is stopped, with everything it started.
const watchdog = setTimeout(async () => {
  console.error(`bench: stopped after ${PLAN.limitMs / 60_000} minutes: something hung`)
  await cleanUp()
  process.exit(1)
}, PLAN.limitMs)
watchdog.unref()
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await cleanUp()
    process.exit(130)
  })
}

const began = Date.now()
const loadBefore = os.loadavg()[0]
const modules = { ...(await import('../dist/emulator.js')), ...(await import('../dist/node.js')) }
const { version: playwrightVersion } = JSON.parse(await readFile(join(root, 'node_modules', '@playwright', 'test', 'package.json'), 'utf8'))
const budgets = JSON.parse(await readFile(join(root, 'bench', 'budgets.json'), 'utf8'))

const results = {}
/** Rows by section, shown in the order of SECTIONS whatever order they ran in. */
const sectionRows = {}
try {
  // The browser sections run the tree-shaken ESM import: the very bytes the size section measures.
  log('bench: sizes')
  const size = await measureSizes()
  if (only.has('size')) {
    results.size = size.rows
    sectionRows.size = [{ section: 'Size' }, ...sizeRows(size, budgets)]
  }
  const trackerCode = size.code.esmImport
  if (['main', 'throughput', 'outbox'].some((name) => only.has(name))) {
    browser = await launchChromium()
    chromiumVersion = browser.version()
  }

  if (only.has('main')) {
    log('bench: main-thread cost in Chromium')
    results.mainThread = await measureMainThread(browser, { trackerCode, log, ...PLAN.main })
    sectionRows.main = [{ section: 'Main thread (Chromium)' }, ...mainThreadRows(results.mainThread)]
  }
  if (only.has('throughput')) {
    results.throughput = []
    sectionRows.throughput = [{ section: 'Throughput: pages -> Node proxy -> emulator (Conversion: 10 req/s x 200)' }]
    for (const { pages, perPage } of PLAN.throughput) {
      log(`bench: throughput, ${pages} page(s) x ${perPage}`)
      const measured = await measureThroughput(browser, { trackerCode, pages, perPage, log, modules })
      results.throughput.push(measured)
      sectionRows.throughput.push(...throughputRows(measured, pages === 1 ? '1 page' : `${pages} pages`))
    }
  }
  if (only.has('outbox')) {
    log(`bench: outbox at ${PLAN.outbox.backlog}`)
    results.outbox = await measureOutboxScale(browser, { trackerCode, log, ...PLAN.outbox })
    sectionRows.outbox = [
      { section: `Outbox at scale (${PLAN.outbox.backlog.toLocaleString('en-US')} queued)` },
      ...outboxRows(results.outbox),
    ]
  }
  await browser?.close()
  browser = undefined
  if (only.has('proxy')) {
    log('bench: proxy cost (load generator in a separate process)')
    results.proxy = await measureProxyCostInChild({ log, ...PLAN.proxy })
    sectionRows.proxy = [{ section: 'Node proxy (serveProxy), instant upstream' }, ...proxyRows(results.proxy)]
  }
  if (only.has('import')) {
    log(`bench: import of ${PLAN.import.rows} rows through the CLI`)
    results.import = await measureImport(PLAN.import)
    sectionRows.import = [{ section: 'Bulk import: npx conversion-engagements import -> emulator' }, ...importRows(results.import)]
  }
} catch (error) {
  await cleanUp()
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
await cleanUp()
const rows = SECTIONS.flatMap((name) => sectionRows[name] ?? [])

const environment = {
  date: new Date(began).toISOString(),
  node: process.version,
  chromium: chromiumVersion ?? 'not started (no browser section)',
  playwright: playwrightVersion,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model?.trim(),
  memoryGB: Math.round(os.totalmem() / 2 ** 30),
  loadAverage: { before: loadBefore, after: os.loadavg()[0] },
  run: flags.quick ? 'quick' : 'full',
  seconds: Math.round((Date.now() - began) / 1000),
}

/** The table: one line per figure, sections as headings, notes numbered into the legend. */
function printTable() {
  const header = ['figure', 'median / value', 'p99 / detail', 'ceiling', 'ratio', '']
  const notes = []
  const lines = rows.map((row) => {
    if (row.section) return row
    let figure = row.figure
    if (row.note) {
      notes.push(row.note)
      figure = `${figure} [${notes.length}]`
    }
    return [figure, row.median, row.p99 ?? '', row.ceiling, ratioText(row.ratio), row.status]
  })
  const cells = lines.filter((line) => Array.isArray(line))
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => String(line[i]).length)))
  const format = (line) =>
    line
      .map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])))
      .join('  ')
      .trimEnd()
  const rule = '-'.repeat(widths.reduce((sum, width) => sum + width + 2, -2))
  const out = []
  out.push(
    `conversion-engagements benchmark (${environment.run} run, ${environment.seconds} s): node bench/run.mjs${flags.quick ? ' --quick' : ''}`,
  )
  out.push(
    `${environment.date} | Node ${environment.node} | Chromium ${environment.chromium} | Playwright ${environment.playwright} | ${environment.os} | ${environment.cpus} CPUs (${environment.cpuModel}) | load ${environment.loadAverage.before.toFixed(2)} -> ${environment.loadAverage.after.toFixed(2)}`,
  )
  out.push('', format(header), rule)
  for (const line of lines) out.push(Array.isArray(line) ? format(line) : `${line.section}`)
  out.push(rule)
  out.push(
    'ratio = figure / ceiling (end to end: ideal / actual; outbox: at the large backlog / at the small one). ok = within 5% of the',
    'ceiling on the right side; MISS = more than 5% off, with its cause in the legend. Medians of repeated runs; p99 where it applies.',
    '',
  )
  notes.forEach((note, i) => out.push(...wrap(`[${i + 1}] ${note}`, 110)))
  return out.join('\n')
}

/** Wraps `text` at spaces to lines of at most `width` characters, indenting continuation lines. */
function wrap(text, width) {
  const lines = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = `    ${word}`
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}

const table = printTable()
console.log(table)
const misses = rows.filter((row) => row.status === 'MISS').map((row) => row.figure.trim())
await writeFile(
  flags.json,
  `${JSON.stringify({ command: `node bench/run.mjs${flags.quick ? ' --quick' : ''}`, environment, plan: PLAN, misses, rows: rows.filter((row) => !row.section), results }, null, 2)}\n`,
)
console.log(`\nfigures written to ${flags.json.startsWith(root) ? flags.json.slice(root.length) : flags.json}`)
