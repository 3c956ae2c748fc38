import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Those run inside workerd: see vitest.workers.config.ts.
    exclude: ['test/workers/**'],
    environment: 'node',
    setupFiles: ['fake-indexeddb/auto', 'test/setup/fast-check.ts'],
    // Tests drive time through an injected clock; real timeouts only catch hangs.
    testTimeout: 20_000,
  },
})
