/**
 * With identity signatures on, a forged signature must be refused before any deep work on the
 * body: a client must not be able to spend the proxy's CPU on engagements it could never have
 * sent. The hostile bodies are the costly kind (60 engagements whose `data` is deeply nested
 * arrays, about 745 KiB). That they are refused BEFORE `data` is looked at is shown by data that
 * also breaks a rule (in the last engagement of each hostile body, in every engagement of a
 * smaller probe): the reason given is the signature's.
 * Meanwhile another client, signed, sends one engagement every 250 ms and is served. Speed is not
 * asserted here; the reliability suite reports the CPU each body costs and the other client's latency.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { LIMITS } from '../src/contract.js'
import { signIdentity } from '../src/proxy/identity.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { loopbackClient, type Answer, type LoopbackClient } from './helpers/loopback-client.js'

const KEY = 'sk_test_fake_hostile_forged_0123456789abcdef'
const SECRET = 'hostile-forged-identity-secret'
const VICTIM = 'victim@shop.test'
const SIGNATURE_REASON = /needs a valid identity signature/

const stack = nodeStack(KEY)
const clients: LoopbackClient[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await stack.close()
})

/**
 * The text of a `data` value of about `bytes`: `{"a":[...]}` holding arrays nested `depth` deep
 * (so `data` itself is depth + 2 levels deep: the object, `a`, then the arrays).
 */
function nestedData(bytes: number, depth: number): string {
  const nest = `${'['.repeat(depth)}${']'.repeat(depth)}`
  return `{"a":[${Array.from({ length: Math.floor(bytes / (nest.length + 1)) }, () => nest).join(',')}]}`
}

/** A body of `count` engagements for `email` with `data` as given (the last one's `last` when given), signed with `signature`. */
function body(prefix: string, count: number, email: string, data: string | undefined, signature: string, last = data): string {
  const items = Array.from({ length: count }, (_, i) => {
    const head = JSON.stringify({ id: `${prefix}-${i}`, contactEmail: email, type: 'PRODUCT_ACTIVITY', createdAt: '2025-08-12T09:21:45Z' })
    const own = i === count - 1 ? last : data
    return own === undefined ? head : `${head.slice(0, -1)},"data":${own}}`
  })
  return `{"batch":[${items.join(',')}],"identity":${JSON.stringify({ [email]: signature })}}`
}

describe('forged identity signatures', () => {
  it('are refused before the data is examined, body after costly body, while a signed client is served', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator, { identitySecret: SECRET })
    const attacker = loopbackClient('127.0.0.2')
    const victim = loopbackClient('127.0.0.3')
    clients.push(attacker, victim)
    const real = await signIdentity(VICTIM, SECRET)
    const forged = `${real.split('.')[0]}.${'0'.repeat(64)}`

    // 60 engagements of about 12.6 kB of data, arrays nested to the deepest allowed; the last
    // one's a level deeper, which only a look at the data would find.
    const costly = (n: number) =>
      body(`forged-${n}`, 60, VICTIM, nestedData(12_600, LIMITS.dataDepth - 2), forged, nestedData(12_600, LIMITS.dataDepth - 1))
    expect(Buffer.byteLength(costly(0))).toBeGreaterThan(745 * 1024)
    expect(Buffer.byteLength(costly(0))).toBeLessThan(LIMITS.requestBytes)

    // About 7 hostile bodies a second, two at a time, while the victim sends every 250 ms.
    let stop = false
    const hostile: Answer[] = []
    const flood = Promise.all(
      [0, 1].map(async (lane) => {
        for (let n = lane; !stop && n < 200; n += 2) {
          const sent = Date.now()
          hostile.push(await attacker.post(proxy.url, APP, costly(n)))
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, 285 - (Date.now() - sent))))
        }
      }),
    )
    const served: Answer[] = []
    for (let i = 0; i < 24; i++) {
      const sent = Date.now()
      served.push(await victim.post(proxy.url, APP, body(`signed-${i}`, 1, VICTIM, '{"step":1}', real)))
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 250 - (Date.now() - sent))))
    }
    stop = true
    await flood

    expect(
      served
        .filter((answer) => answer.status !== 200 || JSON.parse(answer.body).accepted !== 1)
        .map((answer) => `${answer.status} ${answer.body}`),
    ).toEqual([])
    expect(hostile.length).toBeGreaterThan(10)
    for (const answer of hostile) {
      expect(answer.status).toBe(200)
      const { accepted, rejected } = JSON.parse(answer.body) as { accepted: number; rejected: { reason: string }[] }
      expect(accepted).toBe(0)
      expect(rejected).toHaveLength(60)
      expect(rejected.map(({ reason }) => reason).filter((reason) => !SIGNATURE_REASON.test(reason))).toEqual([])
    }
    expect(emulator.ids().every((id) => id.startsWith('signed-'))).toBe(true)
  }, 60_000)

  it('are the reason given even when the data breaks a rule too: the data was never examined', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator, { identitySecret: SECRET })
    const attacker = loopbackClient('127.0.0.2')
    clients.push(attacker)
    const real = await signIdentity(VICTIM, SECRET)
    const forged = `${real.split('.')[0]}.${'f'.repeat(64)}`
    // One level deeper than the contract allows.
    const tooDeep = nestedData(12_400, LIMITS.dataDepth - 1)

    const signed = await attacker.post(proxy.url, APP, body('deep-signed', 60, VICTIM, tooDeep, real))
    expect(JSON.parse(signed.body).rejected[0].reason).toMatch(/nest deeper than/)

    const answer = await attacker.post(proxy.url, APP, body('deep-forged', 60, VICTIM, tooDeep, forged))
    expect(answer.status).toBe(200)
    const { rejected } = JSON.parse(answer.body) as { rejected: { id: string; reason: string }[] }
    expect(rejected).toHaveLength(60)
    expect(rejected.map(({ reason }) => reason).filter((reason) => !SIGNATURE_REASON.test(reason))).toEqual([])
    expect(emulator.requests()).toEqual([])
  })
})
