import type { ClientGuard } from '../../proxy/guard.js'

/** Cloudflare's rate-limiting binding, as far as the guard uses it. */
export interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>
}

/**
 * A guard on Cloudflare's rate-limiting binding: requests counted per location, approximately,
 * which is what an ingress guard needs (the upstream limit and the fair sharing of it are the
 * Durable Object's).
 */
export function bindingGuard(binding: RateLimitBinding, periodMs: number): ClientGuard {
  return {
    request: async (client) =>
      (await binding.limit({ key: client })).success ? { allowed: true } : { allowed: false, retryAfterMs: periodMs },
  }
}
