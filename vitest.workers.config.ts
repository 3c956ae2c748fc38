import { createServer } from 'node:net'
import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

/** A free loopback port, chosen now so the Worker's bindings can name the emulator's address. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

// Wrangler, which the pool uses, stays offline and keeps its files inside the project.
process.env['WRANGLER_SEND_METRICS'] = 'false'
process.env['CLOUDFLARE_CF_FETCH_ENABLED'] = 'false'
process.env['XDG_CONFIG_HOME'] ??= `${import.meta.dirname}/.wrangler/config`
process.env['WRANGLER_LOG_PATH'] ??= `${import.meta.dirname}/.wrangler/logs`

/** Tests that run inside workerd, Cloudflare's runtime, against the emulator on loopback. */
export default defineConfig(async () => {
  const port = await freePort()
  process.env['WORKERS_EMULATOR_PORT'] = String(port)
  return {
    plugins: [
      cloudflareTest({
        main: './src/proxy/worker.ts',
        miniflare: {
          compatibilityDate: '2026-04-20',
          bindings: {
            CONVERSION_API_KEY: 'sk_test_workers_0123456789abcdefghij',
            ALLOWED_ORIGINS: 'https://app.example.com',
            CONVERSION_API_URL: `http://127.0.0.1:${port}/api`,
            PROXY_PATH: '/api/relay',
          },
        },
      }),
    ],
    test: {
      include: ['test/workers/**/*.test.ts'],
      globalSetup: ['test/workers/emulator-setup.ts'],
      testTimeout: 30_000,
    },
  }
})
