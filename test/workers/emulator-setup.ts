import type { TestProject } from 'vitest/node'
import { startEmulator } from '../../src/emulator/index.js'

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorOrigin: string
  }
}

/** Runs in Node, beside workerd: the emulator the Worker under test talks to over loopback. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulator = await startEmulator({ apiKey: 'sk_test_workers_0123456789abcdefghij', port: Number(process.env['WORKERS_EMULATOR_PORT']) })
  project.provide('emulatorOrigin', emulator.origin)
  return () => emulator.close()
}
