/** The engagement the proxy forwards, written once as JSON from what the intake read and checked. */
import type { ReadItem } from './request.js'

/**
 * The engagement as the proxy forwards it: one JSON text, fields in contract order (`id`,
 * `contactEmail`, `type`, `name`, `description`, `createdAt`, `data`; absent optional fields
 * left out), data as checked (the `json` of `checkData`, inserted as it is).
 */
export function engagementJson(fields: ReadItem['fields'], data: string | undefined): string {
  const string = JSON.stringify
  let json = `{"id":${string(fields.id)},"contactEmail":${string(fields.contactEmail)},"type":${string(fields.type)}`
  if (fields.name !== undefined) json += `,"name":${string(fields.name)}`
  if (fields.description !== undefined) json += `,"description":${string(fields.description)}`
  json += `,"createdAt":${string(fields.createdAt)}`
  if (data !== undefined) json += `,"data":${data}`
  return `${json}}`
}
