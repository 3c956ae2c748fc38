/**
 * Where the script tag's bytes go: the bundle built again exactly as `rollup.config.mjs` builds it,
 * with a source map, and every byte of the minified code charged to the source file it came from.
 * Gzip cannot be split by file (it compresses across them), so the figures are minified bytes;
 * their sum is the bundle's size.
 */
import { rollup } from 'rollup'
import { root } from './size.mjs'

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Decodes one line of a source map's `mappings` into segments of [column, source index] (VLQ). */
function segmentsOf(line, state) {
  const segments = []
  let column = 0
  for (const text of line.split(',')) {
    if (!text) continue
    const fields = []
    let value = 0
    let shift = 0
    for (const char of text) {
      const digit = BASE64.indexOf(char)
      value += (digit & 31) << shift
      if (digit & 32) shift += 5
      else {
        fields.push(value & 1 ? -(value >>> 1) : value >>> 1)
        value = 0
        shift = 0
      }
    }
    column += fields[0]
    if (fields.length > 1) state.source += fields[1]
    segments.push([column, fields.length > 1 ? state.source : -1])
  }
  return segments
}

/** Minified bytes per source file of `code`, from its source `map`, largest first. */
export function bytesBySource(code, map) {
  const totals = new Map()
  const charge = (source, bytes) => totals.set(source, (totals.get(source) ?? 0) + bytes)
  const lines = code.split('\n')
  const state = { source: 0 }
  map.mappings.split(';').forEach((mappingLine, index) => {
    const text = lines[index] ?? ''
    const segments = segmentsOf(mappingLine, state)
    // Whatever precedes the first segment of a line is the bundle's own wrapper.
    if (segments.length === 0 || segments[0][0] > 0) charge(-1, segments.length ? segments[0][0] : text.length)
    segments.forEach(([column, source], i) => {
      const end = i + 1 < segments.length ? segments[i + 1][0] : text.length
      charge(source, Buffer.byteLength(text.slice(column, end)))
    })
    if (index < lines.length - 1) charge(-1, 1)
  })
  const name = (source) => {
    if (source < 0) return '(bundle wrapper)'
    const path = map.sources[source].replace(/\\/g, '/')
    const at = path.lastIndexOf('/src/')
    if (at >= 0) return path.slice(at + 1)
    const modules = path.lastIndexOf('node_modules/')
    return modules >= 0 ? path.slice(modules) : path
  }
  return [...totals].map(([source, bytes]) => ({ file: name(source), bytes })).sort((a, b) => b.bytes - a.bytes)
}

/** The script tag rebuilt with `rollup.config.mjs`'s own plugins and a source map; its bytes by source file. */
export async function scriptTagBySource() {
  const configs = (await import(`${root}rollup.config.mjs`)).default
  const config = configs.find((entry) => entry.input === 'src/embed.ts')
  if (!config) throw new Error('rollup.config.mjs has no build of src/embed.ts')
  const bundle = await rollup({
    input: `${root}${config.input}`,
    plugins: config.plugins.filter((plugin) => plugin.name !== 'report-script-tag'),
    onwarn: () => {},
  })
  const { output } = await bundle.generate({ ...config.output, file: undefined, sourcemap: true })
  await bundle.close()
  const [chunk] = output
  // What the build writes has no source map comment.
  const code = chunk.code.replace(/\n\/\/# sourceMappingURL=\S*\n?$/, '\n')
  return { code, files: bytesBySource(code, chunk.map) }
}
