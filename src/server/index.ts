/**
 * conversion-engagements/server: engagements from backend code (meetings, calls, syncs) through
 * the same Coalescer as the proxy. Runs on Node, Bun, Deno and Workers; on Node, `redisUrl` shares
 * the key's limit and memory with a proxy fleet.
 * @packageDocumentation
 */
export { createClient, type Client, type TrackResult } from './client.js'
export { CLIENT_DEFAULTS, type ClientOptions } from './options.js'
export type { ServerTrackInput } from './prepare.js'
