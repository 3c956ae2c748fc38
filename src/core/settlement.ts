/** What the proxy answers a request with, as the tracker, the backend client and the proxy itself read it. */

/**
 * The proxy's 200 answer: the request is settled. Every engagement not listed in `rejected`
 * was accepted now (`accepted`) or earlier (`duplicates`). Rejections are permanent, but for
 * one marked `unchecked`.
 */
export interface Settlement {
  accepted: number
  duplicates: number
  rejected: Rejection[]
}

/** An engagement the request is settled without: which, and why. */
export interface Rejection {
  id: string
  reason: string
  /**
   * Not checked: Conversion refused a batch holding it along with others, and the isolation
   * budget of its request ran out before it could be sent alone. It may be valid: send it again
   * in a request of its own, where it is checked (the tracker and the backend client do so).
   */
  unchecked?: true
}

/** Whether `value` is a {@link Settlement}. Plain code: the browser bundle stays small. */
export function isSettlement(value: unknown): value is Settlement {
  const candidate = value as Settlement | null
  const isCount = (n: unknown) => Number.isInteger(n) && (n as number) >= 0
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    isCount(candidate.accepted) &&
    isCount(candidate.duplicates) &&
    Array.isArray(candidate.rejected) &&
    candidate.rejected.every((item) => typeof item?.id === 'string' && typeof item.reason === 'string')
  )
}

/** The body of every error response, from Conversion and from the proxy. */
export interface ErrorBody {
  message: string
}
