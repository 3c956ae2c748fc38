/**
 * An id taken by another contact must not swallow the real engagement. An attacker, signed for
 * their own email, sends an engagement under an id the victim will use ("order-1001"); the
 * victim's own engagement under that id must then be told apart: a conflict with a reason, never
 * "a duplicate" (which would make the victim's browser drop it as delivered). Over real sockets,
 * identity signatures on, each party from its own loopback address.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningEmulator } from '../src/emulator/index.js'
import type { RunningProxy } from '../src/adapters/node/index.js'
import { signIdentity } from '../src/proxy/identity.js'
import { APP, nodeStack } from './helpers/node-stack.js'
import { loopbackClient, type LoopbackClient } from './helpers/loopback-client.js'

const KEY = 'sk_test_fake_hostile_conflicts_0123456789abcdef'
const SECRET = 'hostile-conflicts-identity-secret'
const ATTACKER = 'attacker@evil.test'
const VICTIM = 'victim@shop.test'

const stack = nodeStack(KEY)
const clients: LoopbackClient[] = []
const folders: string[] = []
afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await stack.close()
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

/** A party: its own address, its own contact, and a valid signature for it. */
async function party(address: string, email: string) {
  const client = loopbackClient(address)
  clients.push(client)
  const signature = await signIdentity(email, SECRET)
  return {
    /** Sends one engagement under `id` for this party's contact; resolves with the status and the parsed body. */
    async send(proxy: RunningProxy, id: string, type: string) {
      const engagement = { id, contactEmail: email, type, name: `${type} by ${email}`, createdAt: '2025-08-12T09:21:45Z' }
      const answer = await client.post(proxy.url, APP, JSON.stringify({ batch: [engagement], identity: { [email]: signature } }))
      return {
        status: answer.status,
        body: JSON.parse(answer.body) as { accepted: number; duplicates: number; rejected: { id: string; reason: string }[] },
      }
    },
  }
}

/** Who Conversion recorded under `id`. */
const contactsOf = (emulator: RunningEmulator, id: string) =>
  emulator
    .engagements()
    .filter((record) => record.engagement.id === id)
    .map((record) => record.engagement.contactEmail)

describe('an id claimed by another contact', () => {
  it('is a conflict for the victim, with a reason that does not name the attacker, never a duplicate', async () => {
    const emulator = await stack.emulator()
    const proxy = await stack.proxy(emulator, { identitySecret: SECRET })
    const attacker = await party('127.0.0.2', ATTACKER)
    const victim = await party('127.0.0.3', VICTIM)

    expect(await attacker.send(proxy, 'order-1001', 'JUNK')).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } })
    const answer = await victim.send(proxy, 'order-1001', 'PURCHASE')

    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      accepted: 0,
      duplicates: 0,
      rejected: [{ id: 'order-1001', reason: expect.stringMatching(/different content/) }],
    })
    expect(answer.body.rejected[0]?.reason).not.toContain(ATTACKER)
    // The attacker's own re-send is still a plain duplicate: binding ids to content costs honest re-sends nothing.
    expect((await attacker.send(proxy, 'order-1001', 'JUNK')).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] })
    expect(contactsOf(emulator, 'order-1001')).toEqual([ATTACKER])
  })

  it('is a conflict while the attacker’s engagement is still on its way upstream', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ latencyMs: 500 })
    const proxy = await stack.proxy(emulator, { identitySecret: SECRET })
    const attacker = await party('127.0.0.2', ATTACKER)
    const victim = await party('127.0.0.3', VICTIM)

    const first = attacker.send(proxy, 'order-1002', 'JUNK')
    await expect.poll(() => emulator.requests().length, { timeout: 5_000 }).toBe(1)
    const answer = await victim.send(proxy, 'order-1002', 'PURCHASE')

    expect(answer.body).toMatchObject({
      accepted: 0,
      duplicates: 0,
      rejected: [{ id: 'order-1002', reason: expect.stringMatching(/different content/) }],
    })
    expect((await first).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
  })

  it('does not pass Conversion’s refusal of the attacker’s engagement on to the victim’s', async () => {
    const emulator = await stack.emulator()
    emulator.setFaults({ rejectTypes: ['JUNK'] })
    const proxy = await stack.proxy(emulator, { identitySecret: SECRET })
    const attacker = await party('127.0.0.2', ATTACKER)
    const victim = await party('127.0.0.3', VICTIM)

    const refused = await attacker.send(proxy, 'order-2002', 'JUNK')
    expect(refused.body).toMatchObject({ accepted: 0, rejected: [{ id: 'order-2002', reason: expect.stringMatching(/JUNK/) }] })
    // Conversion recorded nothing under the id, so the victim's engagement is simply delivered.
    expect((await victim.send(proxy, 'order-2002', 'PURCHASE')).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    expect(contactsOf(emulator, 'order-2002')).toEqual([VICTIM])
    // And the refusal is still remembered for the attacker's own engagement.
    const again = await attacker.send(proxy, 'order-2002', 'JUNK')
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 0, rejected: [{ id: 'order-2002' }] })
  })

  it('is still a conflict after a restart on the same state file', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'hostile-conflicts-'))
    folders.push(folder)
    const stateFile = join(folder, 'delivered.log')
    const emulator = await stack.emulator()
    const attacker = await party('127.0.0.2', ATTACKER)
    const victim = await party('127.0.0.3', VICTIM)

    const before = await stack.proxy(emulator, { identitySecret: SECRET, stateFile })
    expect((await attacker.send(before, 'order-3003', 'JUNK')).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] })
    await before.close()

    const after = await stack.proxy(emulator, { identitySecret: SECRET, stateFile })
    const answer = await victim.send(after, 'order-3003', 'PURCHASE')
    expect(answer.body).toMatchObject({
      accepted: 0,
      duplicates: 0,
      rejected: [{ id: 'order-3003', reason: expect.stringMatching(/different content/) }],
    })
    expect((await attacker.send(after, 'order-3003', 'JUNK')).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] })
    expect(contactsOf(emulator, 'order-3003')).toEqual([ATTACKER])
  })
})
