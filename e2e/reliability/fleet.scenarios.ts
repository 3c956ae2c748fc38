/**
 * A fleet: the page sends through a balancer to two replicas of the built proxy, separate
 * processes sharing one real redis-server (started here, stopped by its pid). First the answers
 * of one replica are lost and the page sends again through the other, which must know what the
 * first delivered; then, with the balancer alternating every request, one replica is killed
 * with SIGKILL while its upstream requests are out, and restarted. Engagements inside an upstream
 * request at the instant of the kill may reach Conversion twice (nobody can know whether it took
 * them): the row counts those apart. The control runs the same fleet without Redis.
 */
import { startRedis } from '../../test/helpers/redis.js'
import { Balancer } from './support/balancer.js'
import { eventually, expect, test } from './support/fixtures.js'
import type { Kill } from './support/kills.js'
import type { ProxyProcess } from './support/proxy.js'

/** Upstream latency while the replica is killed, so that its requests are out at that instant. */
const LATENCY_MS = 400

const ready = async (replica: ProxyProcess) => (await fetch(`http://127.0.0.1:${replica.port}/readyz`)).status === 200

/** Resolves once `check` holds, polling every 10 ms for at most `timeoutMs`: a moment that lasts only a few hundred ms. */
async function moment(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not seen within ${timeoutMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

for (const shared of [true, false]) {
  test(
    shared
      ? 'two proxy replicas sharing Redis: re-sends through the other replica, one replica killed mid-flush (upstream requests out) and restarted'
      : 'control: the same fleet WITHOUT Redis forwards re-sends through the other replica again',
    async ({ stack, page }) => {
      // The killed replica's claims wait out their lease (30 s) before the other sends what it held.
      test.setTimeout(180_000)
      const redis = await startRedis()
      const balancers: Balancer[] = []
      const fleet: ProxyProcess[] = []
      try {
        const options = shared ? { redisUrl: redis.url } : {}
        // The fixture's proxy has no Redis: the fleet replaces it.
        await stack.proxy.stop()
        const replicas = [await stack.startReplica(options), await stack.startReplica(options)] as [ProxyProcess, ProxyProcess]
        fleet.push(...replicas)
        const balancer = await new Balancer(
          replicas.map((replica) => replica.port),
          stack.capture,
        ).start()
        balancers.push(balancer)
        stack.gate.retarget(balancer.port)
        await eventually(async () => (await ready(replicas[0])) && (await ready(replicas[1])), 'both replicas ready')
        await stack.open(page)

        // Replica A delivers, and its answers are lost; then A leaves the rotation and the page
        // sends everything again, through B.
        balancer.drain(1)
        stack.gate.hold()
        await stack.track(page, 300, { name: 'Answers lost' })
        await eventually(() => new Set(stack.emulator.ids()).size >= 300, 'all 300 recorded by Conversion through replica A', 30_000)
        balancer.drain(0)
        balancer.replace(1, replicas[1].port)
        stack.gate.release()
        await eventually(async () => (await stack.stats(page)).queued === 0, 'the page sent them again through replica B', 30_000)
        const resentThroughB = balancer.served[1] as number
        balancer.replace(0, replicas[0].port)
        const before = [...balancer.served]

        // Every request alternates; A is killed while its upstream requests are out.
        stack.emulator.setFaults({ latencyMs: LATENCY_MS })
        await stack.track(page, 600, { name: 'Mid-flush' })
        let outAtKill = 0
        const alternated = () => balancer.served.every((served, index) => served > (before[index] as number))
        await moment(async () => {
          if (!alternated()) return false
          outAtKill = (await replicas[0].stats()).inFlight
          return outAtKill > 0
        }, 'both replicas sent to, and A with upstream requests out')
        const kill: Kill = { from: Date.now(), to: 0 }
        await replicas[0].kill()
        kill.to = Date.now()
        // The page's requests went through both replicas.
        const spreadBeforeKill = balancer.served.map((served, index) => served - (before[index] as number))
        expect(
          spreadBeforeKill.every((served) => served > 0),
          `requests per replica ${spreadBeforeKill.join(' / ')}`,
        ).toBe(true)
        const servedByB = balancer.served[1] as number
        await stack.track(page, 100, { name: 'While a replica is down' })
        await eventually(() => (balancer.served[1] as number) > servedByB, 'replica B serving alone')
        const restarted = await stack.startReplica(options)
        fleet.push(restarted)
        const servedBeforeRestart = [...balancer.served]
        balancer.replace(0, restarted.port)
        stack.emulator.setFaults({ latencyMs: 0 })
        await stack.settle([page], { timeoutMs: 120_000, proxies: [restarted, replicas[1]] })
        const afterRestart = balancer.served.map((served, index) => served - (servedBeforeRestart[index] as number))

        const spread =
          `requests through A / B: ${resentThroughB} re-sends through B alone, ${spreadBeforeKill.join(' / ')} before the kill, ` +
          `${afterRestart.join(' / ')} after the restart; A killed with ${outAtKill} engagements in upstream requests out`
        if (shared) {
          const row = stack.conclude({
            kills: [kill],
            note: `${stack.ledger.answeredAsDuplicates} re-sends answered as duplicates; ${spread}; busiest second at Conversion ${stack.emulator.maxStartsInAnyWindow()}`,
          })
          expect(row.delivered).toBe(1_000)
          expect(stack.ledger.answeredAsDuplicates).toBeGreaterThan(0)
          expect(stack.emulator.maxStartsInAnyWindow()).toBeLessThanOrEqual(10)
          // The restarted replica is back in rotation (what A held is sent after its claims expire).
          expect(afterRestart[0]).toBeGreaterThan(0)
        } else {
          stack.conclude({ control: 'duplicates', note: `shows the suite sees a fleet's duplicates; the fix is redisUrl; ${spread}` })
        }
        expect(resentThroughB).toBeGreaterThan(0)
      } finally {
        // The replicas before Redis, so that none waits on it while stopping.
        await Promise.all(fleet.map((replica) => replica.stop()))
        await Promise.all(balancers.map((balancer) => balancer.stop()))
        await redis.stop()
      }
    },
  )
}
