import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'
import { freePort } from './test/helpers/ports.js'

// Wrangler, which the pool uses, stays offline and keeps its files inside the project.
process.env.WRANGLER_SEND_METRICS = 'false'
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
process.env.XDG_CONFIG_HOME ??= `${import.meta.dirname}/.wrangler/config`
process.env.WRANGLER_LOG_PATH ??= `${import.meta.dirname}/.wrangler/logs`

/**
 * Receives what the Worker writes to the dead-letter queue, so tests can read it (a queue
 * without a consumer drops its messages locally). Deployments have no such consumer.
 */
const DEAD_LETTER_INBOX = `
const letters = []
export default {
  async queue(batch) {
    for (const message of batch.messages) {
      letters.push(message.body)
      message.ack()
    }
  },
  async fetch(request) {
    if (request.method === 'DELETE') letters.length = 0
    return Response.json(letters)
  },
}
`

/**
 * Tests that run inside workerd, Cloudflare's runtime, against the emulator on loopback. The
 * Worker is configured by `wrangler.jsonc` itself, in its queue environment (the superset: the
 * Durable Object, the queue, its consumer and the dead-letter queue); tests that need another
 * mode call the Worker's handlers with fewer bindings.
 */
export default defineConfig(async () => {
  const port = await freePort()
  process.env.WORKERS_EMULATOR_PORT = String(port)
  return {
    plugins: [
      cloudflareTest({
        main: './src/adapters/cloudflare/worker.ts',
        wrangler: { configPath: './wrangler.jsonc', environment: 'queue' },
        miniflare: {
          bindings: {
            CONVERSION_API_KEY: 'sk_test_workers_0123456789abcdefghij',
            CONVERSION_API_URL: `http://127.0.0.1:${port}/api`,
          },
          serviceBindings: { DEAD_LETTER_INBOX: 'dead-letter-inbox' },
          workers: [
            {
              name: 'dead-letter-inbox',
              modules: true,
              script: DEAD_LETTER_INBOX,
              compatibilityDate: '2026-04-20',
              queueConsumers: { 'conversion-engagements-dead-letters': { maxBatchTimeout: 0 } },
            },
          ],
        },
      }),
    ],
    test: {
      include: ['test/workers/**/*.test.ts'],
      globalSetup: ['test/workers/emulator-setup.ts'],
      // One emulator serves every file, and tests reset it: files run one after another.
      fileParallelism: false,
      testTimeout: 30_000,
    },
  }
})
