/**
 * Whether the calendar parts of an ISO 8601 date-time exist (no February 30, no hour 24); the
 * offset, if any, is not looked at. A Date refuses a month, minute or second out of range but
 * rolls 2025-02-30 over into March, and T24:00 into the next day: either way its day of the
 * month is another, so that number is read back and compared (cheaper than writing the whole
 * date back with `toISOString`).
 */
export function isRealDate(value: string): boolean {
  const local = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?/.exec(value)?.[0]
  return !!local && new Date(`${local}Z`).getUTCDate() === +local.slice(8, 10)
}
