/**
 * Key names: from a hash of the API key (never the key itself), with a hash tag (`{...}`) so that
 * every key of one API key lands in the same slot of a Redis Cluster, as Lua scripts need.
 */
// createHash rather than crypto.hash, which Node has only from 20.12.
import { createHash } from 'node:crypto'

export interface RedisKeys {
  /** The sliding-window log of request starts. */
  pacer: string
  /** When this Redis started keeping the log. */
  epoch: string
  /** The claim or acknowledgement of one engagement, by the fingerprint of its id. */
  engagement(idFingerprint: string): string
}

export function redisKeys(apiKey: string): RedisKeys {
  const prefix = `conversion-engagements:{${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}}:`
  return {
    pacer: `${prefix}pacer`,
    epoch: `${prefix}epoch`,
    engagement: (idFingerprint) => `${prefix}e:${idFingerprint}`,
  }
}
