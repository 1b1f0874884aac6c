/**
 * Serving metrics in Prometheus' text format. `serveMetrics` listens on its own (for `watch` and
 * `sync --metrics-port`): GET /metrics answers the registry's text, anything else 404. No key is
 * asked for (Prometheus scrapes without one); what it shows are counts by pipeline and class,
 * never document contents or ids. `close()` stops it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export const METRICS_PATH = '/metrics';

export interface MetricsServer {
  /** http://host:port, with the port actually bound (for port 0). */
  readonly url: string;
  close(): Promise<void>;
}

/** The registry's exposition: content type and text. */
export async function exposition(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

export function serveMetrics(registry: Registry, options: { host: string; port: number }): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: GET ${METRICS_PATH} serves the metrics\n`);
      return;
    }
    exposition(registry).then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error)?.message ?? String(e)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve({
        url: `http://${host}:${port}`,
        // Scrapes keep connections alive: they must not hold the process open after close().
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
