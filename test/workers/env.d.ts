import type { EngagementCoalescer } from '../../src/adapters/cloudflare/durable-object.js'
import type { DeadLetter, QueuedEngagements } from '../../src/adapters/cloudflare/env.js'

declare global {
  namespace Cloudflare {
    /** The bindings of `wrangler.jsonc`'s queue environment, plus what the tests add. */
    interface Env {
      CONVERSION_API_KEY: string
      ALLOWED_ORIGINS: string
      PROXY_PATH: string
      CONVERSION_API_URL: string
      COALESCER: DurableObjectNamespace<EngagementCoalescer>
      ENGAGEMENTS_QUEUE: Queue<QueuedEngagements>
      DEAD_LETTERS: Queue<DeadLetter>
      CLIENT_RATE_LIMITER: RateLimit
      /** The test-only consumer of the dead-letter queue: GET lists what it received, DELETE empties it. */
      DEAD_LETTER_INBOX: Fetcher
    }
  }
}
