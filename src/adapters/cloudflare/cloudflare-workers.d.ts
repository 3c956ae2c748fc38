/**
 * What `durable-object.ts` takes from workerd's built-in `cloudflare:workers` module, for the type
 * checks of the package itself, which run with Node's and the DOM's types rather than Cloudflare's.
 *
 * It is a wildcard on purpose: where `@cloudflare/workers-types` is loaded (the Workers
 * type check, the tests in workerd, a Workers project), its exact `cloudflare:workers` declaration
 * takes precedence over any wildcard, so this one never shadows the real types.
 */
declare module 'cloudflare:*' {
  /** The base class that lets workerd call a Durable Object's methods over RPC. */
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown
    protected env: Env
    constructor(ctx: unknown, env: Env)
    alarm?(alarmInfo?: unknown): void | Promise<void>
  }
}
