/**
 * Everything the suite's processes say and every answer a client receives, kept to be searched
 * for the API key at the end of each scenario: proxy stdout and stderr, raw HTTP answers on the
 * browser's connections, answers to hostile clients, browser console messages and page errors.
 */
import { randomBytes } from 'node:crypto'

/** One source of text, such as `proxy#1 stderr` or `browser console`. */
interface Source {
  chunks: string[]
  bytes: number
}

/** Where a key was found: the source and a little context around it (with the key masked). */
export interface Leak {
  source: string
  context: string
}

/** A key for one scenario: plainly fake, random, so no test can pass by luck. */
export function newApiKey(): string {
  return `sk_test_fake_${randomBytes(18).toString('hex')}`
}

export class Capture {
  private sources = new Map<string, Source>()

  add(source: string, text: string | Buffer): void {
    const chunk = typeof text === 'string' ? text : text.toString('latin1')
    let entry = this.sources.get(source)
    if (!entry) this.sources.set(source, (entry = { chunks: [], bytes: 0 }))
    entry.chunks.push(chunk)
    entry.bytes += chunk.length
  }

  get bytes(): number {
    let total = 0
    for (const source of this.sources.values()) total += source.bytes
    return total
  }

  get sourceNames(): string[] {
    return [...this.sources.keys()]
  }

  /** The whole text of one source, for diagnostics. */
  text(source: string): string {
    return this.sources.get(source)?.chunks.join('') ?? ''
  }

  /**
   * Every place `key` shows, whole or by its random part (a key with its `sk_test_fake_` prefix cut
   * off is still a leak), also URL- and base64-encoded.
   */
  find(key: string): Leak[] {
    const secret = key.replace(/^sk_(live|test)_(fake_)?/, '')
    const forms = [...new Set([key, secret, encodeURIComponent(key), Buffer.from(key).toString('base64').replace(/=+$/, '')])]
    const leaks: Leak[] = []
    for (const [name, source] of this.sources) {
      const text = source.chunks.join('')
      for (const form of forms) {
        for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
          leaks.push({
            source: name,
            context: text
              .slice(Math.max(0, at - 60), at + form.length + 60)
              .split(form)
              .join('<KEY>'),
          })
        }
      }
    }
    return leaks
  }
}
