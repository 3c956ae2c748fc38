import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['fake-indexeddb/auto'],
    // Tests drive time through an injected clock; real timeouts only catch hangs.
    testTimeout: 20_000,
  },
})
