/**
 * The emulator's public entry: a strict local Conversion API. Nothing runs at import.
 * `createEmulator` is runtime-neutral; `startEmulator` serves it over Node HTTP.
 */
export { createEmulator } from './emulator.js'
export { startEmulator } from './node.js'
export type { RunningEmulator, StartEmulatorOptions } from './node.js'
export type {
  Emulator,
  EmulatorInspection,
  EmulatorOptions,
  Faults,
  FaultSettings,
  InspectionPage,
  RecordedEngagement,
  RequestLogEntry,
  Sleep,
} from './types.js'
