/**
 * The one duplicate a crash may cause, told apart from the rest: when a proxy replica is killed
 * while its upstream request is out, it never hears whether Conversion took what that request
 * held, so nothing was marked delivered, and those engagements are sent again once the dead
 * replica's claims expire. Nobody can know better. Any other duplicate is a failure.
 */
import type { EmulatorInspection } from '../../../src/emulator/index.js'

/** A replica's kill: from the signal sent to its exit seen, epoch ms. */
export interface Kill {
  from: number
  to: number
}

/** An upstream request is out at a kill from its arrival until this long after its answer (the answer's way back). */
const ANSWER_TRANSIT_MS = 50

/**
 * Extra copies recorded at the emulator whose first copy arrived in an upstream request that
 * was out at one of `kills`: the replica that sent it may have died before hearing its answer.
 */
export function duplicatesInFlightAtKills(emulator: EmulatorInspection, kills: readonly Kill[]): number {
  const requests = new Map(emulator.requests().map((request) => [request.seq, request]))
  const firsts = new Map<string, number>()
  let inFlight = 0
  for (const record of emulator.engagements()) {
    const id = record.engagement.id
    const first = firsts.get(id)
    if (first === undefined) {
      firsts.set(id, record.requestSeq)
      continue
    }
    const request = requests.get(first)
    if (!request) continue
    const out = {
      from: request.at - ANSWER_TRANSIT_MS,
      to: request.durationMs === null ? Infinity : request.at + request.durationMs + ANSWER_TRANSIT_MS,
    }
    if (kills.some((kill) => out.from <= kill.to && kill.from <= out.to)) inFlight++
  }
  return inFlight
}
