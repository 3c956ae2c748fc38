/**
 * Which page origins may send to the proxy, compared as browsers name them. A browser's `Origin`
 * header is the serialization of the page's origin: scheme and host in lowercase, the host in
 * punycode, the port only when it is not the scheme's default, and nothing else. Entries are
 * brought to that form once, at start-up, or refused when no page could send them or when they
 * would let strangers in; a request's header must then be exactly such a serialization to match.
 *
 * The Public Suffix List comes from `tldts` (its data is about 50 KB gzipped): this module is for
 * servers only, and the tracker never imports it.
 */
import { parse } from 'tldts'

/** Allowed origins, checked and in the form browsers send them. Made by {@link parseAllowedOrigins}. */
export interface AllowedOrigins {
  /** Exact origins, such as `https://app.example.com`. */
  readonly exact: ReadonlySet<string>
  /** `https://*.example.com` entries: any subdomain of `domain`, at any depth, with this scheme and port (`''`: the default). */
  readonly wildcards: readonly OriginWildcard[]
}

export interface OriginWildcard {
  readonly scheme: 'http' | 'https'
  /** Such as `example.com`. */
  readonly domain: string
  readonly port: string
  /** The public suffix above `domain` (`com`); a matching host must have the same one. */
  readonly publicSuffix: string
}

/** The longest serialized origin a browser sends: a scheme, a 253-character host and a port. */
const MAX_ORIGIN_LENGTH = 'https://'.length + 253 + ':65535'.length
const LABEL = '[a-z0-9_-]{1,63}'
/** A serialized http(s) origin, as browsers write it; the groups are scheme, host and port. */
const SERIALIZED_ORIGIN = new RegExp(`^(https?)://(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::([1-9][0-9]{0,4}))?$`)
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' }
const PSL = { allowPrivateDomains: true } as const

/**
 * Checks `allowedOrigins` once, at start-up, and brings each entry to the form browsers send:
 * letter case, a default port (`:443` on https), a trailing `/` and a non-ASCII host
 * (`https://bücher.example` becomes `https://xn--bcher-kva.example`) are normalized. Throws a
 * TypeError naming the entry and the rule for an entry no browser sends (a path, a query,
 * credentials, a host ending in a dot or with an empty label, `null`, a scheme other than http
 * and https) and for a wildcard that would admit strangers: `*` anywhere but as the first label,
 * or over a public suffix where anyone can register a name (`https://*.com`,
 * `https://*.vercel.app`, `https://*.github.io`, per the Public Suffix List). A `*` over an IP
 * address (`https://*.0.0.1`) is not even a URL, and is refused as such.
 * @example parseAllowedOrigins(['https://app.example.com', 'https://*.preview.example.com'])
 */
export function parseAllowedOrigins(entries: readonly string[]): AllowedOrigins {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new TypeError('conversion-engagements proxy: `allowedOrigins` must list at least one origin, such as https://app.example.com')
  }
  const exact = new Set<string>()
  const wildcards: OriginWildcard[] = []
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== 'string')
      throw new TypeError(`conversion-engagements proxy: \`allowedOrigins[${index}]\` must be a string such as https://app.example.com`)
    const parsed = parseEntry(entry)
    if (parsed.kind === 'exact') exact.add(parsed.origin)
    else wildcards.push(parsed.wildcard)
  }
  return { exact, wildcards }
}

/**
 * The origin to echo in `Access-Control-Allow-Origin` when the raw `Origin` header names an
 * allowed origin, else undefined. Only a well-formed serialized origin can match, and it is
 * echoed as it came: there is no other form it could have. Two `Origin` headers (joined by a
 * comma), a path, a query, credentials, upper case, an explicit default port, an empty label and
 * a trailing dot all fail.
 */
export function matchOrigin(allowed: AllowedOrigins, header: string | null | undefined): string | undefined {
  if (typeof header !== 'string' || header.length > MAX_ORIGIN_LENGTH) return undefined
  const parts = SERIALIZED_ORIGIN.exec(header)
  if (!parts) return undefined
  const [, scheme, host, port = ''] = parts as unknown as [string, 'http' | 'https', string, string | undefined]
  if (port === DEFAULT_PORTS[scheme] || Number(port) > 65_535 || host.length > 253) return undefined
  if (allowed.exact.has(header)) return header
  for (const wildcard of allowed.wildcards) {
    if (wildcard.scheme !== scheme || wildcard.port !== port || !host.endsWith(`.${wildcard.domain}`)) continue
    // Under a domain of the customer's own, a name can still be a suffix open to anyone
    // (`*.amazonaws.com` holds `s3.amazonaws.com`, where anyone can name a bucket).
    if (parse(host, PSL).publicSuffix === wildcard.publicSuffix) return header
  }
  return undefined
}

type ParsedEntry = { kind: 'exact'; origin: string } | { kind: 'wildcard'; wildcard: OriginWildcard }

function parseEntry(entry: string): ParsedEntry {
  const refuse = (rule: string): never => {
    throw new TypeError(`conversion-engagements proxy: \`allowedOrigins\` entry ${JSON.stringify(entry)} ${rule}`)
  }
  if (entry === 'null') refuse('cannot be allowed: `null` is the origin of sandboxed frames and local files, which any page can take on')
  let url: URL
  try {
    url = new URL(entry)
  } catch {
    return refuse('is not an origin, such as https://app.example.com')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuse('must start with http:// or https://')
  if (/^[a-z]+:\/\/[^/?#]*@/i.test(entry)) refuse('must not hold a user name or password: browsers never send one in Origin')
  if (/[?#]/.test(entry)) refuse('must not hold a query or a fragment: Origin names the site only, such as https://app.example.com')
  if (url.pathname !== '/')
    refuse("must not hold a path: Origin names the site only (the page's path is never in it), such as https://app.example.com")
  if (url.hostname.endsWith('.'))
    refuse("must not end with a dot: browsers send the host as the page's address has it, and a trailing dot makes another origin")
  const scheme = url.protocol.slice(0, -1) as 'http' | 'https'
  const origin = `${scheme}://${url.host}`
  if (!url.hostname.includes('*')) {
    if (!SERIALIZED_ORIGIN.test(origin))
      refuse('has a host no browser sends (an empty label, or characters other than letters, digits, - and _)')
    return { kind: 'exact', origin }
  }

  if (!url.hostname.startsWith('*.') || url.hostname.indexOf('*', 1) >= 0) {
    refuse('may hold `*` only as the first label of its host, such as https://*.example.com')
  }
  const domain = url.hostname.slice(2)
  if (!SERIALIZED_ORIGIN.test(`${scheme}://${domain}`))
    refuse('has a host no browser sends (an empty label, or characters other than letters, digits, - and _)')
  const { domain: registrable, publicSuffix } = parse(domain, PSL)
  if (registrable === null || publicSuffix === null) {
    refuse(
      `would allow every site under ${domain}, a public suffix where anyone can register a name (Public Suffix List): ` +
        'list your origins one by one, or put `*` over a domain of your own, such as https://*.app.example.com',
    )
  }
  return { kind: 'wildcard', wildcard: { scheme, domain, port: url.port, publicSuffix: publicSuffix as string } }
}
