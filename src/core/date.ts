/**
 * Whether the calendar parts of an ISO 8601 date-time exist (no February 30, no hour 24); the
 * offset, if any, is not looked at. `Date.parse` alone would roll 2025-02-30 over into March, so
 * the parts are read back and compared.
 */
export function isRealDate(value: string): boolean {
  const local = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?/.exec(value)?.[0]
  const date = local && new Date(`${local}Z`)
  return !!date && !isNaN(date.getTime()) && date.toISOString().startsWith(local)
}
