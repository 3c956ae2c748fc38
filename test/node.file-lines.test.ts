import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { forEachLine } from '../src/adapters/node/file-lines.js'

let folders: string[] = []
afterEach(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
  folders = []
})

/** A real file holding `text`; returns its path. */
function fileOf(text: string | Buffer): string {
  const folder = mkdtempSync(join(tmpdir(), 'lines-'))
  folders.push(folder)
  const path = join(folder, 'file.log')
  writeFileSync(path, text)
  return path
}

const linesOf = (path: string, chunkBytes: number, maxLineBytes = 1_048_576) => {
  const lines: string[] = []
  const skipped = forEachLine(path, (line) => lines.push(line), { chunkBytes, maxLineBytes })
  return { lines, ...skipped }
}

// Short and empty lines, one many chunks long, multi-byte characters that chunk boundaries cut.
const WHOLE = ['first', '', `{"at":1,"digests":["${'ab'.repeat(16)}"]}`, 'x'.repeat(100), 'été — ünïcödé ✓ 𝄞'.repeat(3), 'last']

describe('forEachLine: a file read a chunk at a time', () => {
  it('hands over the same lines as splitting the whole text, whatever the chunk size', () => {
    const text = `${WHOLE.join('\n')}\n`
    const path = fileOf(text)
    const all = { lines: WHOLE, torn: false, overlong: 0, wholeBytes: Buffer.byteLength(text) }
    for (let chunkBytes = 1; chunkBytes <= 40; chunkBytes++) expect(linesOf(path, chunkBytes), `chunks of ${chunkBytes} B`).toEqual(all)
    expect(linesOf(path, 1_048_576)).toEqual(all)
  })

  it('reads a file many times larger than its chunk', () => {
    const many = Array.from({ length: 5_000 }, (_, i) => `line ${i} ${'-'.repeat(i % 50)}`)
    const path = fileOf(`${many.join('\n')}\n`)
    const read = linesOf(path, 64)
    expect(read.lines).toEqual(many)
    expect(read.torn).toBe(false)
  })

  it('reports the text after the last newline as torn, without handing it over, and where the whole lines end', () => {
    for (const chunkBytes of [1, 3, 7, 64]) {
      const read = linesOf(fileOf('whole\n{"at":17550000,"dig'), chunkBytes)
      expect(read, `chunks of ${chunkBytes} B`).toEqual({ lines: ['whole'], torn: true, overlong: 0, wholeBytes: 6 })
    }
  })

  it('skips lines longer than the bound, counting each once, and goes on after them', () => {
    const text = ['short', 'y'.repeat(41), 'exactly-forty-bytes-'.repeat(2), 'z'.repeat(500), 'after', 'w'.repeat(90)].join('\n')
    for (const chunkBytes of [1, 5, 16, 4_096]) {
      const read = linesOf(fileOf(text), chunkBytes, 40)
      // The last overlong line has no newline: it is torn, not also counted as overlong.
      expect(read, `chunks of ${chunkBytes} B`).toEqual({
        lines: ['short', 'exactly-forty-bytes-'.repeat(2), 'after'],
        torn: true,
        overlong: 2,
        wholeBytes: Buffer.byteLength(text) - 90,
      })
    }
  })

  it('reads an empty file as no lines, and throws ENOENT for a missing one', () => {
    expect(linesOf(fileOf(''), 8)).toEqual({ lines: [], torn: false, overlong: 0, wholeBytes: 0 })
    expect(() => linesOf(join(fileOf(''), '..', 'missing.log'), 8)).toThrow(/ENOENT/)
  })
})
