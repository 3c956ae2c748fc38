/**
 * The digest that binds an engagement's id to its content (see `Parcel.digest`): 64 bits of the
 * SHA-256 of the id, then 64 bits of the SHA-256 of the engagement's JSON text. A cryptographic
 * hash, because a client who could make two contents collide could have another client's
 * engagement answered as a duplicate of theirs.
 */
import { toHex } from '../core/hex.js'

/** SHA-256 of a text, as hex (at least 16 digits are used). May answer at once or with a promise. */
export type Sha256Hex = (text: string) => string | Promise<string>

const FINGERPRINT_HEX = 16

/** The digest of one engagement from its id and JSON text; at once when the hash answers at once. */
export function digestOf(sha256: Sha256Hex, id: string, json: string): string | Promise<string> {
  const ofId = sha256(id)
  const ofJson = sha256(json)
  if (typeof ofId === 'string' && typeof ofJson === 'string') return joined(ofId, ofJson)
  return Promise.all([ofId, ofJson]).then(([a, b]) => joined(a, b))
}

const joined = (ofId: string, ofJson: string): string => ofId.slice(0, FINGERPRINT_HEX) + ofJson.slice(0, FINGERPRINT_HEX)

/** WebCrypto's SHA-256: on every runtime, at about 20 µs a call. */
export const webCryptoSha256: Sha256Hex = async (text) =>
  toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))))

interface NodeCrypto {
  hash?: (algorithm: string, data: string, encoding: 'hex') => string
}

/**
 * The fastest SHA-256 the runtime offers: Node's (and Bun's) one-shot `crypto.hash`, about 1 µs a
 * call and synchronous, found through `process.getBuiltinModule` so that this module imports
 * nothing of Node; else WebCrypto's.
 */
export function defaultSha256(): Sha256Hex {
  const scope = globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }
  const nodeCrypto = scope.process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined
  const hash = nodeCrypto?.hash
  return hash ? (text) => hash('sha256', text, 'hex') : webCryptoSha256
}
