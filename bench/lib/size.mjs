/**
 * What browsers download, measured one way for `bench/size.mjs` (the CI budget check) and
 * `bench/run.mjs` (the benchmark): the script-tag bundle, and what an app's bundler keeps of the
 * ES module build when it imports only `createTracker`.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import { rollup } from 'rollup'

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const SCRIPT_TAG = 'dist/conversion-engagements.min.js'

/** Bytes of `code` as shipped, gzipped (level 9) and brotli-compressed (quality 11). */
export function measure(code) {
  const bytes = Buffer.from(code)
  return {
    minified: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  }
}

/**
 * What a bundler keeps of the ES module build for `import { createTracker }`, minified. The
 * bundle assigns it to `window.t`, so the benchmark runs in a browser exactly the bytes measured here.
 */
export async function treeShakenImport() {
  const entry = 'virtual:entry'
  const bundle = await rollup({
    input: entry,
    plugins: [
      {
        name: 'entry',
        resolveId: (id) => (id === entry ? id : null),
        load: (id) =>
          id === entry ? `import { createTracker } from ${JSON.stringify(`${root}dist/index.js`)}\nwindow.t = createTracker` : null,
      },
      nodeResolve({ browser: true }),
      terser({ compress: { passes: 3 }, format: { comments: false } }),
    ],
    onwarn: () => {},
  })
  const { output } = await bundle.generate({ format: 'es' })
  await bundle.close()
  return output[0].code
}

/**
 * Both artifacts, their code and their sizes. Rows keep the names `bench/size.mjs` has always
 * printed and written.
 */
export async function measureSizes() {
  const scriptTag = await readFile(`${root}${SCRIPT_TAG}`, 'utf8')
  const esmImport = await treeShakenImport()
  return {
    code: { scriptTag, esmImport },
    rows: [
      { name: 'script tag (conversion-engagements.min.js)', ...measure(scriptTag) },
      { name: 'ESM import { createTracker }, tree-shaken', ...measure(esmImport) },
    ],
  }
}

export const kilobytes = (bytes) => `${(bytes / 1000).toFixed(1)} kB`
