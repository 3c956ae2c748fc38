import nodeResolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import esbuild from 'rollup-plugin-esbuild'

const browserTarget = 'es2020'

/** The npm entries: ES modules, dependencies left to the app's bundler. */
const library = {
  input: { index: 'src/index.ts' },
  external: [/^idb-keyval/, /^zod/],
  plugins: [esbuild({ target: browserTarget })],
  output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
}

/** The script-tag bundle: one file that carries its dependencies, minified. */
const scriptTag = {
  input: 'src/embed.ts',
  plugins: [
    nodeResolve({ browser: true }),
    esbuild({ target: browserTarget }),
    terser({ ecma: 2020, compress: { passes: 3, pure_getters: true }, format: { comments: false } }),
  ],
  output: { file: 'dist/conversion-engagements.min.js', format: 'iife' },
}

export default [library, scriptTag]
