#!/usr/bin/env node
/**
 * The CPU cost of reading and checking a client request body of 1 MiB with the proxy's intake
 * (src/proxy/intake), for the most expensive shapes we know of, next to `JSON.parse` of the same
 * text. Each row reads the body, then checks the data of every item that has some (as if every
 * item had passed its identity check), and reports the median over several runs in ms per MiB.
 *
 *   node bench/intake.mjs            print the table
 *   node bench/intake.mjs --runs 15  more runs per shape (default 9)
 *
 * The source is bundled with esbuild on the fly: no build step needed.
 */
import { build } from 'esbuild'

const runsAt = process.argv.indexOf('--runs')
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 9
const MIB = 1_048_576

const bundle = await build({
  entryPoints: [new URL('../src/proxy/intake/index.ts', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  write: false,
})
const { readClientRequest, checkData } = await import(
  `data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`
)

const fields = (i) => `"id":"e-${i}","contactEmail":"john@example.com","type":"PRODUCT_ACTIVITY","createdAt":"2025-08-12T09:21:45Z"`
/** Repeats `unit` (joined by `separator`) until `prefix + ... + suffix` is about `bytes` long. */
const fill = (prefix, unit, separator, suffix, bytes = MIB) => {
  const count = Math.max(1, Math.floor((bytes - prefix.length - suffix.length) / (unit.length + separator.length)))
  return prefix + Array(count).fill(unit).join(separator) + suffix
}
/** `count` engagements sharing the body, each with `data` of `dataOf(perItemBytes)`. */
const items = (count, dataOf) => {
  const per = Math.floor(MIB / count) - 120
  return `{"batch":[${Array.from({ length: count }, (_, i) => `{${fields(i)},"data":${dataOf(per)}}`).join(',')}]}`
}
const nested = (bytes) => `{"a":${'['.repeat(Math.floor(bytes / 2))}${']'.repeat(Math.floor(bytes / 2))}}`

const SHAPES = {
  'the review case: 60 engagements, data of nested arrays (745 KiB)': () =>
    `{"batch":[${Array.from({ length: 60 }, (_, i) => `{${fields(i)},"data":${nested(12_700)}}`).join(',')}],"identity":{"john@example.com":"1.${'0'.repeat(64)}"}}`,
  'one engagement, data of nested arrays': () => items(1, nested),
  'one engagement, nesting outside data (unknown field)': () =>
    `{"batch":[{${fields(0)},"x":${'['.repeat(MIB / 2 - 100)}${']'.repeat(MIB / 2 - 100)}}]}`,
  'body nested at the top level': () => `{"batch":[{}],"x":${'['.repeat(MIB / 2 - 20)}${']'.repeat(MIB / 2 - 20)}}`,
  '200 engagements, data of {} runs': () => items(200, (bytes) => fill('{"a":[', '{}', ',', ']}', bytes)),
  'one engagement, data of {} runs': () => items(1, (bytes) => fill('{"a":[', '{}', ',', ']}', bytes)),
  '200 engagements, data of short keys': () =>
    items(
      200,
      (bytes) => `{${Array.from({ length: Math.floor(bytes / 9) }, (_, i) => `"${i.toString(36).padStart(4, '0')}":0`).join(',')}}`,
    ),
  '200 engagements, data of escaped strings': () => items(200, (bytes) => fill('{"s":"', '\\u00e9', '', '"}', bytes)),
  '200 engagements, data of two-key objects': () => items(200, (bytes) => fill('{"a":[', '{"a":0,"b":1}', ',', ']}', bytes)),
  '200 engagements, data of short \\u-escaped strings': () => items(200, (bytes) => fill('{"a":[', '"\\u00e9"', ',', ']}', bytes)),
  '200 engagements, data of 1e-7s': () => items(200, (bytes) => fill('{"a":[', '1e-7', ',', ']}', bytes)),
  '200 engagements, data of short escaped strings': () => items(200, (bytes) => fill('{"a":[', '"\\n"', ',', ']}', bytes)),
  '200 engagements, data of non-ASCII text': () => items(200, (bytes) => fill('{"s":"', 'é日', '', '"}', bytes)),
  '200 engagements, data of floats': () => items(200, (bytes) => fill('{"a":[', '0.5', ',', ']}', bytes)),
  '200 engagements, data of 1e15s': () => items(200, (bytes) => fill('{"a":[', '1e15', ',', ']}', bytes)),
  '200 engagements, data of long integers': () => items(200, (bytes) => fill('{"a":[', '1234567890123456', ',', ']}', bytes)),
  '200 engagements, data of whitespace': () => items(200, (bytes) => fill('{"a":', ' ', '', '1}', bytes)),
  '200 valid engagements, 5 KiB of mixed data each': () =>
    items(200, () =>
      JSON.stringify({
        text: 'Report exported é'.repeat(60),
        list: Array.from({ length: 150 }, (_, i) => ({ n: i * 1.5, ok: true, at: '2025-08-12' })),
      }),
    ),
  'one engagement, a 1 MiB escaped description': () => `{"batch":[{${fields(0)},"description":"${'\\n'.repeat(MIB / 2 - 100)}"}]}`,
  'one engagement, many unknown keys': () => fill(`{"batch":[{${fields(0)},`, '"k":0', ',', '}]}'),
  'identity of many entries': () => fill('{"batch":[{}],"identity":{', '"a@b.co":"x"', ',', '}}'),
  'batch of 1 MiB of {} (past 200 items)': () => fill('{"batch":[', '{}', ',', ']}'),
  'batch of 1 MiB of numbers': () => fill('{"batch":[', '1', ',', ']}'),
}

function intake(text) {
  const read = readClientRequest(text)
  if (!read.ok) return read.message
  let refused = 0
  for (const item of read.items) if (item.data && !checkData(text, item.data.start, item.data.end).ok) refused++
  return refused
}

function cpuMs(work) {
  const start = process.cpuUsage()
  work()
  const spent = process.cpuUsage(start)
  return (spent.user + spent.system) / 1000
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

console.log(['shape', 'KiB', 'intake ms/MiB', 'JSON.parse ms/MiB', 'intake says'].join('\t'))
for (const [name, make] of Object.entries(SHAPES)) {
  const text = make()
  try {
    JSON.parse(text)
  } catch {
    throw new Error(`the shape "${name}" is not JSON`)
  }
  const said = intake(text) // also warms up
  const mib = text.length / MIB
  const ours = median(Array.from({ length: RUNS }, () => cpuMs(() => intake(text)))) / mib
  const parse = median(Array.from({ length: RUNS }, () => cpuMs(() => JSON.parse(text)))) / mib
  console.log(
    [
      name,
      Math.round(text.length / 1024),
      ours.toFixed(1),
      parse.toFixed(1),
      typeof said === 'number' ? `${said} data refused` : said,
    ].join('\t'),
  )
}
