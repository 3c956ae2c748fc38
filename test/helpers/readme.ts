/**
 * The README's examples and tables, as tests read them: every claim there is run or compared
 * against the code. Examples are marked `<!-- example: name -->` above their code block; option
 * tables are marked `<!-- options: name -->`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The code of the example called `name`, exactly as the README shows it. */
export function example(name: string): { language: string; code: string } {
  const found = new RegExp(`<!-- example: ${name} -->\\n\`\`\`(\\w+)\\n([\\s\\S]*?)\`\`\``).exec(README)
  if (!found) throw new Error(`README has no example called ${name}`)
  return { language: found[1] as string, code: found[2] as string }
}

/** Where the package's entries come from when examples run here: the sources. */
const ENTRIES: Record<string, string> = {
  'conversion-engagements': 'src/index.ts',
  'conversion-engagements/proxy': 'src/proxy/index.ts',
  'conversion-engagements/node': 'src/adapters/node/index.ts',
  'conversion-engagements/emulator': 'src/emulator/index.ts',
  'conversion-engagements/redis': 'src/adapters/node/redis/index.ts',
  'conversion-engagements/server': 'src/adapters/node/server-client.ts',
  'conversion-engagements/worker': 'src/adapters/cloudflare/worker.ts',
}

/**
 * Writes an example to a module that imports this repository's sources instead of the package,
 * with `substitutions` applied (each must match, so a changed README fails loudly), and returns
 * its path. Nothing else of the example changes.
 */
export function exampleModule(name: string, substitutions: [string, string][] = []): string {
  const { language, code } = example(name)
  let source = code.replace(/from '(conversion-engagements(?:\/\w+)?)'/g, (_match, entry: string) => {
    const target = ENTRIES[entry]
    if (!target) throw new Error(`example ${name} imports ${entry}, which has no source mapping`)
    return `from ${JSON.stringify(join(ROOT, target))}`
  })
  for (const [from, to] of substitutions) {
    if (!source.includes(from)) throw new Error(`example ${name} no longer contains ${JSON.stringify(from)}`)
    source = source.replace(from, to)
  }
  const folder = join(ROOT, 'test/.examples')
  mkdirSync(folder, { recursive: true })
  const file = join(folder, `${name}.${language === 'tsx' ? 'tsx' : 'ts'}`)
  writeFileSync(file, source)
  return file
}

/** The rows of the option table called `name`: option name and the default as written. */
export function optionTable(name: string): { option: string; fallback: string }[] {
  const start = README.indexOf(`<!-- options: ${name} -->`)
  if (start < 0) throw new Error(`README has no option table called ${name}`)
  const rows: { option: string; fallback: string }[] = []
  for (const line of README.slice(start).split('\n').slice(3)) {
    if (!line.startsWith('|')) break
    const [option, fallback] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim())
    rows.push({ option: (option as string).replace(/`/g, ''), fallback: fallback as string })
  }
  return rows
}

/** The option names an interface declares in a source file. */
export function declaredOptions(file: string, interfaceName: string): string[] {
  const source = readFileSync(join(ROOT, file), 'utf8')
  const body = new RegExp(`export interface ${interfaceName}[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? ''
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((match) => match[1] as string)
}

/** The README's table of what each entry exports: the entry, and the names it lists (asides in parentheses left out). */
export function exportTable(): { entry: string; names: string[] }[] {
  const start = README.indexOf('<!-- exports -->')
  const end = README.indexOf('<!-- /exports -->')
  if (start < 0 || end < start) throw new Error('README has no exports table')
  return README.slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [entry, exports] = line
        .split('|')
        .slice(1, 3)
        .map((cell) => cell.trim()) as [string, string]
      const names = [...exports.replace(/\([^)]*\)/g, '').matchAll(/`([A-Za-z_]\w*)`/g)].map((match) => match[1] as string)
      return { entry: entry.replace(/`/g, ''), names }
    })
}

/** The source file of a package entry, as examples import it here. */
export function entrySource(entry: string): string | undefined {
  const target = ENTRIES[entry]
  return target && join(ROOT, target)
}
