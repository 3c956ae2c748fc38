/** The engagement the proxy forwards, written once as JSON from what the intake read and checked. */
import type { ItemFields } from './item.js'

/**
 * The engagement as the proxy forwards it: one JSON text, fields in contract order (`id`,
 * `contactEmail`, `type`, `name`, `description`, `createdAt`, `data`; absent optional fields
 * left out), data as checked (the `json` of `checkData`, inserted as it is).
 *
 * `plain` says that no string of `fields` holds a character JSON escapes (a quote, a backslash,
 * a control character, an unpaired surrogate): each is then written between quotes as it is.
 * The intake knows it of an item whose strings had no escape sequence and that passed the
 * rules, which refuse control characters and unpaired surrogates in every field.
 */
export function engagementJson(fields: ItemFields, data: string | undefined, plain = false): string {
  const string = plain ? quoted : JSON.stringify
  let json = `{"id":${string(fields.id)},"contactEmail":${string(fields.contactEmail)},"type":${string(fields.type)}`
  if (fields.name !== undefined) json += `,"name":${string(fields.name)}`
  if (fields.description !== undefined) json += `,"description":${string(fields.description)}`
  json += `,"createdAt":${string(fields.createdAt)}`
  if (data !== undefined) json += `,"data":${data}`
  return `${json}}`
}

const quoted = (text: string): string => `"${text}"`
