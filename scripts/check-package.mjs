#!/usr/bin/env node
/**
 * Checks the package as users get it: packs it, installs the tarball into an empty folder, and
 * imports every entry from there with plain Node. Also checks that the tarball holds only what
 * users need. Run after `npm run build`.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const folder = mkdtempSync(join(tmpdir(), 'conversion-engagements-pack-'))
const problems = []

try {
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', folder], root))
  const files = packed.files.map((file) => file.path)
  const unexpected = files.filter((path) => !/^(dist\/|README\.md$|LICENSE$|package\.json$)/.test(path))
  if (unexpected.length > 0) problems.push(`the tarball holds files users do not need: ${unexpected.join(', ')}`)
  // What `exports` points at is checked below, in the installed copy.
  for (const needed of ['README.md', 'LICENSE']) {
    if (!files.includes(needed)) problems.push(`the tarball lacks ${needed}`)
  }

  const app = join(folder, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(folder, packed.filename)], app)

  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  // Entries that run on Node; the worker needs workerd, the script tag a browser: their files must exist.
  const expectations = {
    'conversion-engagements': ['createTracker', 'LIMITS'],
    'conversion-engagements/proxy': ['createProxy', 'signIdentity', 'verifyIdentity'],
    'conversion-engagements/node': ['serveProxy'],
    'conversion-engagements/emulator': ['createEmulator', 'startEmulator'],
    'conversion-engagements/redis': ['createRedisCoordination'],
    'conversion-engagements/server': ['createClient'],
  }
  for (const [entry, names] of Object.entries(expectations)) {
    const script = `const m = await import(${JSON.stringify(entry)}); const missing = ${JSON.stringify(names)}.filter((n) => typeof m[n] === 'undefined'); if (missing.length) { console.error('missing: ' + missing.join(', ')); process.exit(1) }`
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (error) {
      problems.push(`import("${entry}") failed: ${String(error.stderr ?? error).trim()}`)
    }
  }
  // The executable, as `npx conversion-engagements` runs it from the installed package.
  try {
    const help = execFileSync('npx', ['--no-install', 'conversion-engagements', '--help'], {
      cwd: app,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (!/proxy/.test(help) || !/import/.test(help))
      problems.push(`npx conversion-engagements --help lists no proxy and import commands: ${help}`)
  } catch (error) {
    problems.push(`npx conversion-engagements --help failed: ${String(error.stderr ?? error).trim()}`)
  }
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const paths = typeof target === 'string' ? [target] : Object.values(target)
    for (const path of paths) {
      try {
        readFileSync(join(app, 'node_modules', 'conversion-engagements', path))
      } catch {
        problems.push(`exports["${subpath}"] points at ${path}, which the tarball lacks`)
      }
    }
  }
  console.log(`package check: ${packed.filename}, ${files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`)
} finally {
  rmSync(folder, { recursive: true, force: true })
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`package check: ${problem}`)
  process.exit(1)
}
console.log('package check: every entry installs and imports')
