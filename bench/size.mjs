#!/usr/bin/env node
/**
 * Sizes of what browsers download: the script-tag bundle, and what an app's bundler keeps of the
 * ES module build when it imports only `createTracker`. Prints minified, gzip and brotli bytes,
 * then what each source file costs in the script tag (minified bytes, from a source map), so a
 * change can tell where its bytes went.
 *
 *   node bench/size.mjs            print the table
 *   node bench/size.mjs --json F   also write the figures to F
 *   node bench/size.mjs --check    fail when a budget in bench/budgets.json (gzip bytes, the
 *                                  figures of the last build that set them) is exceeded, when the
 *                                  script tag could evaluate strings as code, or when the README's
 *                                  stated size is not the real one
 *
 * Run `npm run build` first.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { scriptTagBySource } from './lib/module-sizes.mjs'
import { kilobytes, measureSizes, root } from './lib/size.mjs'

const { code, rows } = await measureSizes()
const scriptTag = code.scriptTag

console.log(['what', 'minified', 'gzip', 'brotli'].join('\t'))
for (const row of rows) console.log([row.name, row.minified, row.gzip, row.brotli].join('\t'))

const { files } = await scriptTagBySource()
console.log('\nscript tag by source file (minified bytes)')
for (const { file, bytes } of files) console.log(`${String(bytes).padStart(7)}  ${file}`)

const jsonAt = process.argv.indexOf('--json')
if (jsonAt > 0) await writeFile(process.argv[jsonAt + 1], `${JSON.stringify(rows, null, 2)}\n`)

if (process.argv.includes('--check')) {
  const budgets = JSON.parse(await readFile(`${root}bench/budgets.json`, 'utf8'))
  const problems = []
  const script = rows[0]
  if (script.gzip > budgets.scriptTagGzip) {
    problems.push(`the script tag is ${script.gzip} bytes gzipped; the budget is ${budgets.scriptTagGzip}`)
  }
  if (rows[1].gzip > budgets.esmImportGzip) {
    problems.push(`the tree-shaken ESM import is ${rows[1].gzip} bytes gzipped; the budget is ${budgets.esmImportGzip}`)
  }
  // A script on someone else's page must run under a strict Content-Security-Policy.
  for (const pattern of [/\beval\s*\(/, /\bnew\s+Function\b/, /\bFunction\s*\(/]) {
    if (pattern.test(scriptTag)) problems.push(`the script tag contains ${pattern}: it would need 'unsafe-eval'`)
  }
  const readme = await readFile(`${root}README.md`, 'utf8')
  const stated = /<!-- size -->([\d.]+ kB)<!-- \/size -->/.exec(readme)?.[1]
  if (stated !== kilobytes(script.gzip)) {
    problems.push(`README states the script tag is ${stated ?? '(no <!-- size --> marker)'}; it is ${kilobytes(script.gzip)}`)
  }
  if (problems.length > 0) {
    for (const problem of problems) console.error(`size check: ${problem}`)
    process.exit(1)
  }
  console.log(`size check: within budget (script tag ${kilobytes(script.gzip)} of ${kilobytes(budgets.scriptTagGzip)} gzip)`)
}
