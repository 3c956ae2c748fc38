import { describe, expect, it } from 'vitest'
import { createIdentityVerifier, signIdentity, verifyIdentity } from '../src/proxy/identity.js'

const SECRET = 'identity-test-secret'
const now = Date.UTC(2025, 7, 12, 9, 21, 45)

describe('identity signatures: one canonical email', () => {
  it('folds ASCII case only: the Kelvin sign is not a k', async () => {
    const kelvin = await signIdentity('\u212Aate@example.com', SECRET, { now })
    expect(await verifyIdentity('kate@example.com', kelvin, SECRET, now)).toBe(false)
    expect(await verifyIdentity('Kate@example.com', kelvin, SECRET, now)).toBe(false)
    expect(await verifyIdentity('\u212Aate@example.com', kelvin, SECRET, now)).toBe(true)
    const kate = await signIdentity('kate@example.com', SECRET, { now })
    expect(await verifyIdentity('\u212Aate@example.com', kate, SECRET, now)).toBe(false)
  })

  it('does not fold letters beyond ASCII either (dotted I, accented capitals)', async () => {
    const dotted = await signIdentity('\u0130nga@example.com', SECRET, { now })
    expect(await verifyIdentity('i\u0307nga@example.com', dotted, SECRET, now)).toBe(false)
    const accented = await signIdentity('\u00C9lodie@example.com', SECRET, { now })
    expect(await verifyIdentity('\u00E9lodie@example.com', accented, SECRET, now)).toBe(false)
  })

  it('still takes ASCII letters in either case, both ways', async () => {
    const upper = await signIdentity('John.Doe@EXAMPLE.com', SECRET, { now })
    expect(await verifyIdentity('john.doe@example.com', upper, SECRET, now)).toBe(true)
    const lower = await signIdentity('john.doe@example.com', SECRET, { now })
    expect(await verifyIdentity('JOHN.DOE@Example.Com', lower, SECRET, now)).toBe(true)
  })

  it.each([
    ['\u202Ejohn@example.com', 'characters', 'email must not contain U+202E'],
    ['jo\u200Bhn@example.com', 'characters', 'email must not contain U+200B'],
    [' john@example.com', 'format', 'email must be an email address such as john@example.com'],
    ['john', 'format', 'email must be an email address such as john@example.com'],
    ['', 'format', undefined],
  ])('refuses to sign %j, naming email and the rule', async (email, rule, message) => {
    const signing = signIdentity(email, SECRET, { now })
    await expect(signing).rejects.toThrow(TypeError)
    await expect(signing).rejects.toThrow(`(rule: ${rule})`)
    await expect(signing).rejects.toThrow(message ?? /^signIdentity: email /)
  })

  it('refuses an expiresIn that is not a whole number of seconds, naming it and the range', async () => {
    for (const expiresIn of [0, -5, 1.5, Number.NaN, 1e15]) {
      await expect(signIdentity('john@example.com', SECRET, { now, expiresIn })).rejects.toThrow(
        new RegExp(
          `^signIdentity: expiresIn must be a whole number of seconds from 1 to \\d+ \\(it is ${String(expiresIn).replace('+', '\\+')}\\)$`,
        ),
      )
    }
    await expect(signIdentity('john@example.com', SECRET, { now: Number.NaN })).rejects.toThrow(
      /^signIdentity: now must be epoch milliseconds/,
    )
  })

  it('does not vouch for an email the contract refuses, whatever the signature', async () => {
    const signature = await signIdentity('john@example.com', SECRET, { now })
    expect(await verifyIdentity('john@example.com\u200B', signature, SECRET, now)).toBe(false)
    expect(await verifyIdentity(' john@example.com', signature, SECRET, now)).toBe(false)
  })
})

describe('identity signatures: one spelling', () => {
  it('accepts only the spelling signIdentity makes', async () => {
    const signature = await signIdentity('john@example.com', SECRET, { now })
    expect(signature).toMatch(/^[1-9][0-9]{0,11}\.[0-9a-f]{64}$/)
    const [expiry, mac] = signature.split('.') as [string, string]
    const verify = createIdentityVerifier(SECRET)
    expect(await verify('john@example.com', signature, now)).toBe(true)
    for (const respelled of [
      `0${signature}`,
      `00${signature}`,
      `${expiry}.${mac.toUpperCase()}`,
      `+${signature}`,
      `${signature}\n`,
      ` ${signature}`,
      `${expiry}.0${mac}`,
    ]) {
      expect(await verifyIdentity('john@example.com', respelled, SECRET, now)).toBe(false)
      expect(await verify('john@example.com', respelled, now)).toBe(false)
    }
  })
})
