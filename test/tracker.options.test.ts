import { describe, expect, it } from 'vitest'
import { resolveOptions, type Platform } from '../src/tracker/options.js'
import type { TrackerError } from '../src/tracker/types.js'
import { settle } from './helpers/platform.js'
import { demo, World } from './helpers/tracker.js'

/** The defaults, as the code applies them. */
const TRACKER_DEFAULTS = resolveOptions({ endpoint: '/api/relay' }, {} as Platform)

const resolve = (options: object) => {
  const reported: TrackerError[] = []
  const resolved = resolveOptions({ endpoint: '/api/relay', ...options }, {} as Platform, (error) => reported.push(error))
  return { resolved, reported }
}

describe('tracker options: one policy for what is invalid', () => {
  it('uses the default for a value out of range, and names the option, the value and the range', () => {
    const { resolved, reported } = resolve({ flushAt: 0, maxBatchSize: 500, maxBatchBytes: 10 })
    expect(resolved).toMatchObject({
      flushAt: TRACKER_DEFAULTS.flushAt,
      maxBatchSize: TRACKER_DEFAULTS.maxBatchSize,
      maxBatchBytes: TRACKER_DEFAULTS.maxBatchBytes,
    })
    expect(reported).toEqual([
      {
        code: 'invalid',
        field: 'flushAt',
        rule: 'range',
        message: 'option flushAt must be a whole number from 1 to Infinity, not 0: the default is used',
      },
      {
        code: 'invalid',
        field: 'maxBatchSize',
        rule: 'range',
        message: 'option maxBatchSize must be a whole number from 1 to 200, not 500: the default is used',
      },
      {
        code: 'invalid',
        field: 'maxBatchBytes',
        rule: 'range',
        message: 'option maxBatchBytes must be a number from 1024 to 1048576, not 10: the default is used',
      },
    ])
  })

  it('refuses NaN, fractions where things are counted, and values of the wrong type', () => {
    const { resolved, reported } = resolve({
      requestTimeout: NaN,
      maxRequestsPerSecond: 9.5,
      flushInterval: '5000',
      debug: 'yes',
      name: '',
      onError: 'console.log',
      maxAge: Object.create(null),
    })
    expect(reported.map(({ field, rule }) => [field, rule])).toEqual([
      ['name', 'range'],
      ['debug', 'type'],
      ['onError', 'type'],
      ['flushInterval', 'type'],
      ['maxRequestsPerSecond', 'range'],
      ['requestTimeout', 'range'],
      ['maxAge', 'type'],
    ])
    expect(reported.find((error) => error.field === 'flushInterval')?.message).toBe(
      'option flushInterval must be a number from 0 to 2147483647, not "5000": the default is used',
    )
    expect(reported.find((error) => error.field === 'maxAge')?.message).toContain('not object')
    expect(resolved).toMatchObject({
      requestTimeout: TRACKER_DEFAULTS.requestTimeout,
      maxRequestsPerSecond: TRACKER_DEFAULTS.maxRequestsPerSecond,
      flushInterval: TRACKER_DEFAULTS.flushInterval,
      debug: false,
      name: 'default',
      onError: undefined,
      maxAge: TRACKER_DEFAULTS.maxAge,
    })
  })

  it('keeps every valid value, at the edges of its range too, and reports nothing', () => {
    const { resolved, reported } = resolve({
      flushAt: 1,
      flushInterval: 0,
      maxBatchSize: 200,
      maxBatchBytes: 1024,
      maxRequestsPerSecond: 10,
      maxHeld: 0,
      maxAge: Infinity,
      retryBaseDelay: 50,
      retryMaxDelay: 2_147_483_647,
      name: 'checkout',
      debug: true,
    })
    expect(reported).toEqual([])
    expect(resolved).toMatchObject({ flushAt: 1, flushInterval: 0, maxBatchSize: 200, maxBatchBytes: 1024, maxHeld: 0, maxAge: Infinity })
    expect(resolved.retry).toEqual({ baseMs: 50, maxMs: 2_147_483_647 })
  })

  it('in a page: reports each invalid option as an error event and a console warning, and works on its defaults', async () => {
    const world = new World()
    const errors: TrackerError[] = []
    const tab = await world.open({ flushAt: 0, maxBatchSize: 1_000, onError: (error) => errors.push(error) })
    expect(tab.of('error').map((event) => event.error.field)).toEqual(['flushAt', 'maxBatchSize'])
    expect(errors.map((error) => error.field)).toEqual(['flushAt', 'maxBatchSize'])
    const warnings = tab.page.logs.filter((log) => log.level === 'warn').map((log) => log.args.join(' '))
    expect(warnings).toEqual([
      '[conversion-engagements] option flushAt must be a whole number from 1 to Infinity, not 0: the default is used',
      '[conversion-engagements] option maxBatchSize must be a whole number from 1 to 200, not 1000: the default is used',
    ])

    // flushAt is 20, not 0 (or 1, as a clamp would make it): five engagements wait for flushInterval.
    tab.tracker.identify('john@example.com')
    for (let i = 0; i < 5; i++) tab.tracker.track(demo(i))
    await settle()
    expect(world.proxy.requests).toHaveLength(0)
    await world.clock.advance(TRACKER_DEFAULTS.flushInterval)
    expect(world.proxy.requests.map((request) => request.ids.length)).toEqual([5])
  })
})
