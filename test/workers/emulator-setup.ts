import type { TestProject } from 'vitest/node'
import { startEmulator } from '../../src/emulator/index.js'
import { exampleModule } from '../helpers/readme.js'

declare module 'vitest' {
  export interface ProvidedContext {
    emulatorOrigin: string
    /** The README's Worker example, written as a module of the sources for the workerd tests to import. */
    workerClientExample: string
  }
}

/** Runs in Node, beside workerd: the emulator the Worker under test talks to over loopback, and the README's Worker example. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulator = await startEmulator({
    apiKey: 'sk_test_workers_0123456789abcdefghij',
    port: Number(process.env.WORKERS_EMULATOR_PORT),
  })
  project.provide('emulatorOrigin', emulator.origin)
  project.provide('workerClientExample', exampleModule('worker-client'))
  return () => emulator.close()
}
