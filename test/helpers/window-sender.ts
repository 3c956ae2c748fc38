/**
 * One sender of an API key as a process of its own, for tests of the shared window: it connects
 * to Redis with its own `createRedisCoordination` (or, for the control, paces alone in process),
 * says it is ready, and on `go` reserves slots as fast as it can with several requests out at
 * once, holding each flight for a time from a fixed pattern (as Conversion's latency would), and
 * landing it. When its time is up it sends back every flight's start and answer times, on its
 * own clock (the machine's: all senders of a test share it), and exits.
 *
 * Environment: `REDIS_URL` (absent: pace alone), `API_KEY`, `RUN_MS`, `WORKERS` (flights out at
 * once), `MAX_REQUESTS_PER_SECOND`, `FLIGHT_MS` (comma-separated, cycled through).
 */
import { createCoalescerPacer, type SharedPacer } from '../../src/core/coalescer/index.js'
import { createRedisCoordination, type RedisCoordination } from '../../src/adapters/node/redis/index.js'

/** What the sender reports when its run is over. */
export interface SenderReport {
  type: 'flights'
  /** `[start, answer]` of every request it let start, epoch ms. */
  flights: [number, number][]
  /** Reservations refused (waits), to show the senders did compete. */
  refusals: number
}

function numberFrom(name: string): number {
  const value = Number(process.env[name])
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`window-sender: ${name} must be a positive number, got ${process.env[name]}`)
  return value
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function main(): Promise<void> {
  const runMs = numberFrom('RUN_MS')
  const workers = numberFrom('WORKERS')
  const limit = numberFrom('MAX_REQUESTS_PER_SECOND')
  const pattern = (process.env.FLIGHT_MS ?? '0').split(',').map(Number)
  const redisUrl = process.env.REDIS_URL
  let redis: RedisCoordination | undefined
  let pacer: SharedPacer
  if (redisUrl) {
    redis = createRedisCoordination({ url: redisUrl, apiKey: process.env.API_KEY ?? '', maxRequestsPerSecond: limit })
    while (!redis.reachable) await sleep(10)
    pacer = redis.pacer
  } else {
    pacer = createCoalescerPacer({ maxRequestsPerSecond: limit })
  }

  await new Promise<void>((resolve) => {
    process.on('message', (message: { type?: string }) => message?.type === 'go' && resolve())
    process.send?.({ type: 'ready' })
  })

  const flights: [number, number][] = []
  let refusals = 0
  let launched = 0
  const stopAt = Date.now() + runMs
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < stopAt) {
        const reservation = await pacer.reserve(Date.now())
        if (!reservation.granted) {
          refusals++
          // The local pacer may answer Infinity (room comes only with an answer still out here).
          await sleep(Math.min(reservation.waitMs, 50))
          continue
        }
        const start = Date.now()
        await sleep(pattern[launched++ % pattern.length] as number)
        const answer = Date.now()
        reservation.slot.land(answer)
        flights.push([start, answer])
      }
    }),
  )
  const report: SenderReport = { type: 'flights', flights, refusals }
  process.send?.(report)
  await redis?.close()
  process.disconnect?.()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
