/**
 * The proxy's configuration from environment variables, named as the Cloudflare Worker's
 * bindings, plus those only a Node process has. Read once; an invalid value is a TypeError that
 * names the variable, its value and what it must be, never the value of a secret.
 */
import { isIP } from 'node:net'
import { LIMITS } from '../../../contract.js'
import { describeRule, numberProblem, optionReader, type NumberRule } from '../../../core/options.js'
import { parseAllowedOrigins } from '../../../proxy/origins.js'
import { DEFAULT_PATH, DEFAULT_UPSTREAM_URL } from '../../../proxy/options.js'
import type { ServeProxyOptions } from '../index.js'

/** One variable as `--help` lists it. */
export interface Variable {
  name: string
  /** The default as the help shows it, or `required`. */
  fallback: string
  meaning: string
}

/** Every variable the proxy command reads, in the order `--help` lists them. */
export const VARIABLES: readonly Variable[] = [
  { name: 'CONVERSION_API_KEY', fallback: 'required', meaning: 'your Conversion API key (secret: never printed)' },
  {
    name: 'ALLOWED_ORIGINS',
    fallback: 'required',
    meaning: 'origins allowed to send, comma-separated: https://app.example.com,https://*.example.com',
  },
  { name: 'PROXY_PATH', fallback: DEFAULT_PATH, meaning: 'where the proxy answers; anything else gets 404' },
  { name: 'CONVERSION_API_URL', fallback: DEFAULT_UPSTREAM_URL, meaning: "Conversion's API base" },
  { name: 'IDENTITY_SECRET', fallback: '(none)', meaning: 'when set, every engagement needs a valid identity signature (secret)' },
  { name: 'ALLOWED_TYPES', fallback: '(any)', meaning: 'engagement types accepted, comma-separated; others are rejected' },
  {
    name: 'MAX_REQUESTS_PER_SECOND',
    fallback: String(LIMITS.requestsPerSecond),
    meaning: `upstream request starts in any sliding second, 1 to ${LIMITS.requestsPerSecond}, the same on every replica`,
  },
  { name: 'PORT', fallback: '8787', meaning: 'port of the proxy and its health checks (0: any free port)' },
  {
    name: 'HOST',
    fallback: '127.0.0.1',
    meaning: 'interface to listen on, an address or a host name without a port (0.0.0.0: every interface)',
  },
  { name: 'TRUST_PROXY', fallback: 'false', meaning: 'true behind your own reverse proxy: the client is the last X-Forwarded-For entry' },
  { name: 'STATE_FILE', fallback: '(none)', meaning: 'file remembering delivered engagements across restarts (one process per file)' },
  {
    name: 'REDIS_URL',
    fallback: '(none)',
    meaning: 'redis:// or rediss://: fleet mode, one limit and one memory for every replica (secret)',
  },
  { name: 'METRICS_PORT', fallback: '(none)', meaning: 'serve Prometheus metrics at GET /metrics on this port (0: any free port)' },
  { name: 'METRICS_HOST', fallback: '127.0.0.1', meaning: 'interface of the metrics port (only with METRICS_PORT)' },
]

/** The port the proxy listens on when `PORT` is not set. */
export const DEFAULT_PORT = 8787

export type Environment = Readonly<Record<string, string | undefined>>

const read = optionReader('conversion-engagements proxy')
const PORT_RULE: NumberRule = { min: 0, max: 65_535, integer: true }

/** A variable's value, trimmed; undefined when unset or blank. */
export function valueOf(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

/**
 * Plain decimal digits (and a fraction where the rule allows one). `Number` alone would also take
 * `0x1F90`, `1e3`, `0b1` or `+80`: forms no operator means for a port or a rate, which taken as
 * numbers would hide a mistake.
 */
const DECIMAL = { whole: /^[0-9]+$/, any: /^[0-9]+(\.[0-9]+)?$/ }

export function numberVariable(env: Environment, name: string, rule: NumberRule): number | undefined {
  const raw = valueOf(env, name)
  if (raw === undefined) return undefined
  if (!(rule.integer ? DECIMAL.whole : DECIMAL.any).test(raw)) return read.fail(name, `${describeRule(rule)}, in decimal digits`, raw)
  const value = Number(raw)
  return numberProblem(value, rule) ? read.fail(name, describeRule(rule), raw) : value
}

/**
 * A host name: dot-separated labels of letters, digits, inner hyphens and underscores (container
 * names have them), 253 characters at most.
 */
const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i

/**
 * An interface to listen on: an IP address or a host name, checked here so that a port written
 * into it (`localhost:8080`) is refused as configuration, not met later as a failure to listen.
 */
function hostVariable(env: Environment, name: string): string | undefined {
  const raw = valueOf(env, name)
  if (raw === undefined || isIP(raw) !== 0 || HOST_NAME.test(raw)) return raw
  return read.fail(name, 'an IP address or a host name, without a port or brackets (such as 0.0.0.0, ::, or localhost)', raw)
}

function booleanVariable(env: Environment, name: string): boolean | undefined {
  const raw = valueOf(env, name)
  if (raw === undefined) return undefined
  if (/^(true|1)$/i.test(raw)) return true
  if (/^(false|0)$/i.test(raw)) return false
  return read.fail(name, 'true or false', raw)
}

export function urlVariable(env: Environment, name: string, protocols: RegExp, rule: string, secret: boolean): string | undefined {
  const raw = valueOf(env, name)
  if (raw === undefined) return undefined
  let ok = false
  try {
    ok = protocols.test(new URL(raw).protocol)
  } catch {
    ok = false
  }
  // A Redis URL may hold a password: it is never quoted back.
  return ok ? raw : read.fail(name, rule, secret ? undefined : raw)
}

/** The origins, checked as the proxy checks them, its message naming the variable. */
function originsVariable(env: Environment): string[] {
  const origins = list(env.ALLOWED_ORIGINS)
  if (origins.length === 0) read.fail('ALLOWED_ORIGINS', 'a comma-separated list of at least one origin, such as https://app.example.com')
  try {
    parseAllowedOrigins(origins)
  } catch (error) {
    throw new TypeError(String((error as Error).message).replace(/`allowedOrigins(\[\d+\])?`/, '`ALLOWED_ORIGINS`'))
  }
  return origins
}

/** Reads the proxy's options from `env`. Throws a TypeError naming the first variable that is wrong. */
export function readEnvironment(env: Environment): ServeProxyOptions {
  const apiKey = valueOf(env, 'CONVERSION_API_KEY')
  if (apiKey === undefined) return read.fail('CONVERSION_API_KEY', 'set to your Conversion API key')
  const allowedOrigins = originsVariable(env)
  const path = valueOf(env, 'PROXY_PATH')
  if (path !== undefined && !path.startsWith('/')) read.fail('PROXY_PATH', 'a path starting with "/"', path)
  const upstreamUrl = urlVariable(env, 'CONVERSION_API_URL', /^https?:$/, 'an http:// or https:// URL', false)
  const identitySecret = valueOf(env, 'IDENTITY_SECRET')
  const allowedTypes = list(env.ALLOWED_TYPES)
  const maxRequestsPerSecond = numberVariable(env, 'MAX_REQUESTS_PER_SECOND', { min: 1, max: LIMITS.requestsPerSecond, integer: true })
  const port = numberVariable(env, 'PORT', PORT_RULE) ?? DEFAULT_PORT
  const host = hostVariable(env, 'HOST')
  const trustProxy = booleanVariable(env, 'TRUST_PROXY')
  const stateFile = valueOf(env, 'STATE_FILE')
  const redisUrl = urlVariable(env, 'REDIS_URL', /^rediss?:$/, 'a redis:// or rediss:// URL', true)
  if (stateFile !== undefined && redisUrl !== undefined) {
    read.fail('STATE_FILE', 'unset when REDIS_URL is set (Redis is the memory of delivered engagements of the fleet)')
  }
  const metricsPort = numberVariable(env, 'METRICS_PORT', PORT_RULE)
  const metricsHost = hostVariable(env, 'METRICS_HOST')
  // Without a port there is no metrics server: a host alone would be ignored without a word.
  if (metricsHost !== undefined && metricsPort === undefined)
    read.fail('METRICS_HOST', 'set only with METRICS_PORT (the metrics are served only on METRICS_PORT)')
  return {
    apiKey,
    allowedOrigins,
    port,
    ...(path === undefined ? {} : { path }),
    ...(upstreamUrl === undefined ? {} : { upstreamUrl }),
    ...(identitySecret === undefined ? {} : { identitySecret }),
    ...(allowedTypes.length === 0 ? {} : { allowedTypes }),
    ...(maxRequestsPerSecond === undefined ? {} : { maxRequestsPerSecond }),
    ...(host === undefined ? {} : { host }),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    ...(stateFile === undefined ? {} : { stateFile }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(metricsPort === undefined ? {} : { metricsPort }),
    ...(metricsHost === undefined ? {} : { metricsHost }),
  }
}
