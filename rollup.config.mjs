import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import esbuild from 'rollup-plugin-esbuild'

/** Every dependency stays an import in the npm build: the app's bundler or Node resolves it. */
const { dependencies } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const dependency = new RegExp(`^(${Object.keys(dependencies).join('|').replace(/[/.]/g, '\\$&')})(/|$)`)

/** Browsers with Web Locks, BroadcastChannel and IndexedDB getAll(range, count) run ES2020. */
const browserTarget = 'es2020'

/**
 * Every npm entry as an ES module; dependencies stay imports, for the app's bundler or Node to
 * resolve. Shared code lands in chunks, so the tracker entry never pulls in server code.
 */
const modules = {
  input: {
    index: 'src/index.ts',
    proxy: 'src/proxy/index.ts',
    node: 'src/adapters/node/index.ts',
    redis: 'src/adapters/node/redis/index.ts',
    server: 'src/server/index.ts',
    'server-node': 'src/adapters/node/server-client.ts',
    cli: 'src/adapters/node/cli/index.ts',
    worker: 'src/adapters/cloudflare/worker.ts',
    emulator: 'src/emulator/index.ts',
  },
  external: [/^node:/, /^cloudflare:/, dependency],
  plugins: [esbuild({ target: browserTarget })],
  output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
}

/** Prints what a page embedding the bundle needs to know: its weight and its integrity hash. */
function reportScriptTag() {
  return {
    name: 'report-script-tag',
    writeBundle(options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue
        const code = Buffer.from(chunk.code)
        const integrity = `sha384-${createHash('sha384').update(code).digest('base64')}`
        console.log(`${options.file}: ${code.length} bytes, ${gzipSync(code, { level: 9 }).length} gzipped\nintegrity="${integrity}"`)
      }
    },
  }
}

/**
 * Members of the tracker's own objects that never leave the script, renamed short in the
 * script tag. Only names that nothing outside it reads or writes may be here: never an option,
 * an event or its fields, the wire format, what IndexedDB or localStorage keeps (entries, their
 * `key`, settings), a message between tabs, a `stats()` field or a public method; nor a name a
 * browser or JavaScript object we call also has (`add`, `delete`, `join`, `from`, `body`,
 * `status`, `split`, `warn`, `loaded` of `window.conversion`...). A name missing here only costs
 * bytes; a name wrongly here breaks the built tracker, which the Chromium tests run.
 */
const internalMembers = [
  // The outbox, its options, its store, its caps and its mirror.
  'append',
  'written',
  'unsaved',
  'head',
  'remove',
  'markBeaconed',
  'release',
  'clearedElsewhere',
  'removedElsewhere',
  'count',
  'unsent',
  'remember',
  'forget',
  'missed',
  'enforce',
  'released',
  'recount',
  'onStored',
  'onDrop',
  'onFault',
  'run',
  'read',
  'write',
  'start',
  'end',
  // The delivery state, its steps and effects, and its driver.
  'begin',
  'askAgain',
  'owed',
  'next',
  'stored',
  'answer',
  'finish',
  'wakeAfterPass',
  'beacons',
  'shared',
  'adopt',
  'restore',
  'stop',
  'state',
  'drain',
  'lead',
  'beacon',
  'send',
  'kind',
  'after',
  'limit',
  'ms',
  'outgoing',
  'slot',
  'saveRetry',
  'events',
  'wakeInMs',
  'afterMs',
  'settlement',
  'maxCount',
  'maxBytes',
  'envelopeBytes',
  'baseMs',
  'maxMs',
  'retry',
  'retryAfter',
  // The tabs, the session, the emitter and the page's life.
  'isLeader',
  'post',
  'flushByLeader',
  'listen',
  'enter',
  'leave',
  'ready',
  'change',
  'heard',
  'emit',
  'counters',
  'listening',
  'on',
  'fault',
  'hide',
  'suspend',
  'resume',
  // What the facade hands its parts.
  'namespace',
  'options',
  'session',
  'store',
  'settings',
  'outbox',
  'tabs',
  'path',
]

/** The script-tag bundle: one file that carries its dependencies, minified. */
const scriptTag = {
  input: 'src/embed.ts',
  plugins: [
    nodeResolve({ browser: true }),
    esbuild({ target: browserTarget }),
    terser({
      ecma: 2020,
      // `inline: 1`: functions that take arguments stay functions; inlining them made this
      // bundle's gzip larger (measured with bench/size.mjs). `unsafe_arrows`: a function called
      // once becomes an arrow, which is only unsafe for code that reads `this` or `arguments` or
      // is called with `new`; the script has none of those. `unsafe`: template literals and
      // String(x) become concatenation, which differs only for symbols (which throw) and objects
      // whose valueOf disagrees with toString; the script formats strings, numbers and errors.
      // `lhs_constants: false`: `x===1` as written, not `1===x`, which gzips worse here.
      compress: { passes: 3, pure_getters: true, inline: 1, unsafe_arrows: true, unsafe: true, lhs_constants: false },
      // `builtins`: the list above is checked by hand against the platform's names, so terser's
      // own list of DOM names (which holds `read`, `send`, `post`, `count`...) need not veto it.
      mangle: { properties: { regex: new RegExp(`^(${internalMembers.join('|')})$`), builtins: true } },
      format: { comments: false },
    }),
    reportScriptTag(),
  ],
  output: { file: 'dist/conversion-engagements.min.js', format: 'iife' },
}

export default [modules, scriptTag]
