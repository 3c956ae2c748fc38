/**
 * The rules that hold the house together, checked on every file of `src/`: imports flow one way,
 * runtime-neutral code stays neutral, no file grows past 250 lines, and the module map in
 * `docs/ARCHITECTURE.md` names every file.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
const SRC = join(ROOT, 'src')
const MAX_LINES = 250

/** Where a file of `src/` belongs. */
type Area = 'core' | 'contract' | 'schemas' | 'proxy' | 'server' | 'tracker' | 'node' | 'cloudflare' | 'emulator' | 'entry'

function areaOf(file: string): Area {
  if (file === 'contract.ts') return 'contract'
  if (file === 'schemas.ts') return 'schemas'
  if (file === 'index.ts' || file === 'embed.ts') return 'entry'
  if (file.startsWith('adapters/node/')) return 'node'
  if (file.startsWith('adapters/cloudflare/')) return 'cloudflare'
  return file.split('/')[0] as Area
}

/** What an area may import: of ours, and of the platform. */
const RULES: Record<Area, { ours: Area[] | 'any'; platform: ('node' | 'cloudflare')[] }> = {
  core: { ours: ['core', 'contract'], platform: [] },
  contract: { ours: ['core', 'contract'], platform: [] },
  schemas: { ours: ['contract', 'core', 'schemas'], platform: [] },
  proxy: { ours: ['core', 'contract', 'schemas', 'proxy'], platform: [] },
  // The backend client: runtime-neutral too (Node, Bun, Deno, Workers).
  server: { ours: ['core', 'contract', 'schemas', 'proxy', 'server'], platform: [] },
  // The browser bundle: nothing of the servers.
  tracker: { ours: ['core', 'contract', 'tracker'], platform: [] },
  node: { ours: ['core', 'contract', 'schemas', 'proxy', 'server', 'node'], platform: ['node'] },
  cloudflare: { ours: ['core', 'contract', 'schemas', 'proxy', 'cloudflare'], platform: ['cloudflare'] },
  emulator: { ours: ['core', 'contract', 'schemas', 'emulator', 'node'], platform: [] },
  entry: { ours: 'any', platform: [] },
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/** The specifiers a source file imports (static, side-effect and dynamic imports, and re-exports). */
function importsOf(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((match) => (match[1] ?? match[2] ?? match[3]) as string)
}

/** Every broken rule of one file, given its path below `src/` and its text. */
function problemsOf(file: string, text: string): string[] {
  const area = areaOf(file)
  const rule = RULES[area]
  const problems: string[] = []
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
  if (lines > MAX_LINES) problems.push(`${file}: ${lines} lines, more than ${MAX_LINES}`)
  for (const specifier of importsOf(text)) {
    const platform = specifier.startsWith('node:') ? 'node' : specifier.startsWith('cloudflare:') ? 'cloudflare' : undefined
    if (platform && !rule.platform.includes(platform)) problems.push(`${file} (${area}) imports ${specifier}`)
    if (!specifier.startsWith('.')) continue
    const target = relative(SRC, join(SRC, dirname(file), specifier)).replace(/\.js$/, '.ts')
    if (target.startsWith('..')) problems.push(`${file} imports ${specifier}, outside src/`)
    else if (rule.ours !== 'any' && !rule.ours.includes(areaOf(target)))
      problems.push(`${file} (${area}) imports ${target} (${areaOf(target)})`)
  }
  return problems
}

function sourceFiles(folder = SRC): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(entry.name) ? [relative(SRC, path)] : []
  })
}

describe('architecture', () => {
  const files = sourceFiles()

  it('keeps imports flowing one way, runtime-neutral code neutral, and every file at most 250 lines', () => {
    expect(files.length).toBeGreaterThan(40)
    expect(files.flatMap((file) => problemsOf(file, readFileSync(join(SRC, file), 'utf8')))).toEqual([])
  })

  it('catches what it is there to catch', () => {
    expect(problemsOf('core/pacer.ts', "import { serve } from '../adapters/node/serve.js'")).toEqual([
      'core/pacer.ts (core) imports adapters/node/serve.ts (node)',
    ])
    expect(problemsOf('contract.ts', "import { x } from './proxy/options.js'")).toHaveLength(1)
    expect(problemsOf('proxy/proxy.ts', "export { x } from '../tracker/tracker.js'")).toHaveLength(1)
    expect(problemsOf('proxy/proxy.ts', "const m = await import('../adapters/cloudflare/env.js')")).toHaveLength(1)
    expect(problemsOf('proxy/proxy.ts', "import { hash } from 'node:crypto'")).toEqual(['proxy/proxy.ts (proxy) imports node:crypto'])
    expect(problemsOf('adapters/cloudflare/worker.ts', "import 'node:fs'")).toHaveLength(1)
    expect(problemsOf('adapters/node/serve.ts', "import { DurableObject } from 'cloudflare:workers'")).toHaveLength(1)
    expect(problemsOf('tracker/tracker.ts', "import { z } from '../schemas.js'")).toHaveLength(1)
    expect(problemsOf('core/long.ts', 'x\n'.repeat(251))).toEqual(['core/long.ts: 251 lines, more than 250'])
    expect(
      problemsOf('adapters/node/serve.ts', "import { createServer } from 'node:http'\nimport { x } from '../../proxy/cors.js'"),
    ).toEqual([])
  })

  it('names every file of src/ in the module map, docs/ARCHITECTURE.md', () => {
    const map = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8')
    expect(files.filter((file) => !map.includes(`src/${file}`))).toEqual([])
  })
})
