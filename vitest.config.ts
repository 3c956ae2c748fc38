import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Those run inside workerd: see vitest.workers.config.ts.
    exclude: ['test/workers/**'],
    environment: 'node',
    setupFiles: ['fake-indexeddb/auto'],
    // Tests drive time through an injected clock; real timeouts only catch hangs.
    testTimeout: 20_000,
  },
})
