/**
 * Identity signatures: proof, made by the customer's backend with a secret the browser never
 * sees, that the page may record engagements for a contact. Without them anyone who can reach
 * the proxy could record engagements for anyone. HMAC-SHA256 with WebCrypto, so the same code
 * signs on Node, Workers, Deno and Bun.
 *
 * A signature is `<expiry>.<hmac>`: the expiry (Unix seconds) is signed too, so a leaked
 * signature stops working, and it is bound to the email in its canonical form
 * (`canonicalEmail`), so it cannot vouch for anyone else. One signature has one spelling: the
 * expiry without leading zeros, the HMAC in lowercase hex.
 */

import { canonicalEmail, checkEmail } from '../contract.js'
import { toHex } from '../core/hex.js'

const encoder = new TextEncoder()
const keys = new Map<string, Promise<CryptoKey>>()

/** Options of {@link signIdentity}. */
export interface SignIdentityOptions {
  /** How long the signature stays valid, in whole seconds, 1 or more. Default 30 days: longer than an engagement may wait in a browser (7 days). */
  expiresIn?: number
  /** Current time in epoch ms. Default `Date.now()`. */
  now?: number
}

const DEFAULT_LIFETIME_S = 30 * 86_400
/** The only spelling of a signature: 1 to 12 digits of expiry with no leading zero, a dot, 64 lowercase hex digits. */
const SIGNATURE_PATTERN = /^([1-9][0-9]{0,11})\.([0-9a-f]{64})$/
const LATEST_EXPIRY_S = 999_999_999_999

/**
 * Signs `email` for `tracker.identify(email, { signature })`. Call it on your server, where the
 * secret lives, and hand the result to the page. The signature holds for the email's canonical
 * form (`canonicalEmail`: ASCII letters in either case, every other character exactly).
 * @throws TypeError when `email` breaks the contract's email rules (the message names `email`
 * and the rule), or when `expiresIn` is not a whole number of seconds from 1 on.
 * @example
 * const signature = await signIdentity(user.email, process.env.IDENTITY_SECRET)
 */
export async function signIdentity(email: string, secret: string, options: SignIdentityOptions = {}): Promise<string> {
  const violation = checkEmail(email)
  if (violation) throw new TypeError(`signIdentity: ${violation.message} (rule: ${violation.rule})`)
  const now = options.now ?? Date.now()
  if (!Number.isFinite(now) || now < 0)
    throw new TypeError(`signIdentity: now must be epoch milliseconds, 0 or more (it is ${String(now)})`)
  const nowS = Math.floor(now / 1000)
  const lifetime = options.expiresIn ?? DEFAULT_LIFETIME_S
  // An expiry must fit the signature's 12 digits.
  if (!Number.isInteger(lifetime) || lifetime < 1 || nowS + lifetime > LATEST_EXPIRY_S) {
    throw new TypeError(
      `signIdentity: expiresIn must be a whole number of seconds from 1 to ${LATEST_EXPIRY_S - nowS} (it is ${String(lifetime)})`,
    )
  }
  const expiry = nowS + lifetime
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret), signedText(email, expiry))
  return `${expiry}.${toHex(new Uint8Array(mac))}`
}

/**
 * Whether `signature` was made by {@link signIdentity} for `email` with `secret` and has not
 * expired. The comparison is WebCrypto's `verify`, which takes the same time whether the first
 * or the last byte differs.
 */
export async function verifyIdentity(email: string, signature: unknown, secret: string, now: number): Promise<boolean> {
  return (await validUntil(email, signature, secret, now)) !== undefined
}

/** When a valid, unexpired signature expires, in epoch ms; undefined for any other. */
async function validUntil(email: string, signature: unknown, secret: string, now: number): Promise<number | undefined> {
  if (typeof signature !== 'string') return undefined
  const match = SIGNATURE_PATTERN.exec(signature)
  // An email the contract refuses was never signed: signIdentity throws for it.
  if (!match || checkEmail(email)) return undefined
  const expiry = Number(match[1])
  if (expiry * 1000 <= now) return undefined
  const valid = await crypto.subtle.verify('HMAC', await hmacKey(secret), fromHex(match[2] as string), signedText(email, expiry))
  return valid ? expiry * 1000 : undefined
}

/** Signatures remembered as verified by {@link createIdentityVerifier}. */
const VERIFIED_CAPACITY = 10_000

/**
 * {@link verifyIdentity} for one secret, remembering the signatures it found valid (until they
 * expire) so that a tab sending every few seconds costs one HMAC, not one per request. Only
 * valid ones are remembered: a forgery is checked again every time, and cannot fill the memory.
 */
export function createIdentityVerifier(secret: string): (email: string, signature: unknown, now: number) => Promise<boolean> {
  // `<email>\n<signature>` -> expiry in epoch ms. Cleared when full: refilling costs one HMAC each.
  const verified = new Map<string, number>()
  return async (email, signature, now) => {
    const remembered = `${email}\n${String(signature)}`
    const expiresAt = verified.get(remembered)
    if (expiresAt !== undefined && expiresAt > now) return true
    const until = await validUntil(email, signature, secret, now)
    if (until === undefined) return false
    if (verified.size >= VERIFIED_CAPACITY) verified.clear()
    verified.set(remembered, until)
    return true
  }
}

/** The canonical form is signed, so the backend and the page need not agree on ASCII case. */
function signedText(email: string, expiry: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(encoder.encode(`${canonicalEmail(email)}\n${expiry}`))
}

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
    keys.set(secret, key)
  }
  return key
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return bytes
}
