/**
 * The metrics endpoint: `GET /metrics` on a port of its own, apart from the proxy's, so that it is
 * never exposed where browsers reach the proxy. Loopback by default.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ProxyMetrics } from './metrics.js'

/** A running metrics endpoint. */
export interface MetricsServer {
  /** Such as `http://127.0.0.1:9464/metrics`. */
  url: string
  port: number
  close(): Promise<void>
}

export async function serveMetrics(metrics: ProxyMetrics, port: number, host: string): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n')
      return
    }
    metrics.scrape().then(
      ({ contentType, text }) =>
        response
          .writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
          .end(request.method === 'HEAD' ? undefined : text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    )
  })
  // A scraper keeps its connection; it must not keep the process from stopping.
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}
