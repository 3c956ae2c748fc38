#!/usr/bin/env node
/**
 * One proxy process of the reliability suite: the BUILT Node proxy (`dist/node.js`), configured
 * from its environment the way an operator would run it, logging to its own stdout and stderr
 * (the suite reads both, to check that the key never shows). It tells its parent where it
 * listens over IPC, reports its memory on request (after a full collection, so growth means
 * retained objects) and its usage (CPU time, memory now, peak RSS), and stops on SIGTERM. SIGKILL is the crash the suite wants.
 */
import { serveProxy } from '../../../dist/node.js'

const options = JSON.parse(process.env.RELIABILITY_PROXY_OPTIONS ?? '{}')
const server = await serveProxy({ ...options, apiKey: process.env.CONVERSION_API_KEY })

process.on('message', (message) => {
  if (message?.type === 'memory') {
    globalThis.gc?.()
    process.send?.({ type: 'memory', id: message.id, memory: process.memoryUsage() })
  } else if (message?.type === 'stats') {
    process.send?.({ type: 'stats', id: message.id, stats: server.proxy.stats() })
  } else if (message?.type === 'usage') {
    // No collection first: what the process holds right now, its CPU time, and its peak RSS.
    const usage = { cpuMicros: process.cpuUsage(), peakRssBytes: process.resourceUsage().maxRSS * 1024, memory: process.memoryUsage() }
    process.send?.({ type: 'usage', id: message.id, usage })
  }
})

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await server.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
// The suite went away without stopping this process: never outlive it.
process.on('disconnect', stop)

process.send?.({ type: 'listening', url: server.url, port: server.port })
