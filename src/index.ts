/**
 * conversion-engagements: record Conversion custom engagements from the browser, durably,
 * through your own proxy.
 * @packageDocumentation
 */
export { createTracker } from './tracker/tracker.js'
export type { Platform, TrackerOptions } from './tracker/options.js'
export type {
  CommandResult,
  DropReason,
  Tracker,
  TrackerError,
  TrackerEvent,
  TrackerStats,
  TrackInput,
  TrackResult,
} from './tracker/types.js'
export { LIMITS } from './contract.js'
export type { Engagement, EngagementData, JsonValue, Settlement } from './contract.js'
