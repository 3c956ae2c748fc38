/** `import --dry-run`: every row checked as the import would check it, nothing sent. */
import { hash, randomUUID } from 'node:crypto'
import { prepare } from '../../../server/prepare.js'
import { EXIT, type CliContext } from '../cli/context.js'
import { formatOf, readRows, type Format } from './rows.js'

/** Errors printed one by one; beyond them, only counted. */
const SHOWN = 20

export async function validateFile(file: string, format: Format | undefined, context: CliContext): Promise<number> {
  const tools = { now: Date.now, randomUUID, sha256: (text: string) => hash('sha256', text, 'hex') }
  let rows = 0
  let errors = 0
  try {
    for await (const row of readRows(file, format ?? formatOf(file))) {
      rows++
      const reason = row.problem ?? (await problemOf(row.input, tools))
      if (reason === undefined) continue
      if (++errors <= SHOWN) context.print(`row ${row.number}: ${reason}`)
    }
  } catch (error) {
    context.warn(`conversion-engagements import: ${(error as Error).message}`)
    return EXIT.failed
  }
  if (errors > SHOWN) context.print(`... and ${errors - SHOWN} more`)
  context.print(
    `checked ${rows} rows of ${file}: ${errors === 0 ? 'no errors' : `${errors} would be rejected`}; nothing was sent (--dry-run)`,
  )
  return errors === 0 ? EXIT.ok : EXIT.failed
}

async function problemOf(input: Record<string, unknown> | undefined, tools: Parameters<typeof prepare>[1]): Promise<string | undefined> {
  const prepared = await prepare({ ...input, id: input?.id ?? 'dry-run' }, tools)
  return 'problem' in prepared ? prepared.problem.reason : undefined
}
