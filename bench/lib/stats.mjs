/** Small statistics for noisy machines: medians and high percentiles; a mean only where a figure is a sum. */

/** The `q` quantile (0..1) of `values`, by linear interpolation between the nearest ranks; NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  const at = (sorted.length - 1) * q
  const low = Math.floor(at)
  const high = Math.ceil(at)
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low)
}

export const median = (values) => quantile(values, 0.5)
/** The mean of `values`, for sums (a run's total is the sum of its rounds); NaN when empty. */
export const mean = (values) => (values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : NaN)
export const p99 = (values) => quantile(values, 0.99)

/** Median, p99 and count of `values`. */
export function summarize(values) {
  return { median: median(values), p99: p99(values), max: values.length ? Math.max(...values) : NaN, n: values.length }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check()` is true, polling every `everyMs`; false when `timeoutMs` passed first. */
export async function waitFor(check, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await sleep(everyMs)
  }
}
